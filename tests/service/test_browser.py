"""The page at / in headless Chromium, driven over the Chrome DevTools Protocol: it
lists the voices, streams speech over HTTP and over the WebSocket, and decodes audio
(the page writes the decoded sample count and RMS into the DOM, which we read)."""

from __future__ import annotations

import itertools
import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

pytest.importorskip("uvicorn")
pytest.importorskip("websockets")

import uvicorn
from websockets.sync.client import connect as ws_connect

from voicestack.service import ServiceConfig, create_app
from voicestack.voice import Voice

DATA = Path(__file__).parents[1] / "data"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
    "--disable-default-apps", "--disable-extensions", "--disable-domain-reliability", "--no-proxy-server",
    "--disable-features=Translate,MediaRouter,OptimizationHints", "--autoplay-policy=no-user-gesture-required",
    "--mute-audio", "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
]


def _find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


@pytest.fixture(scope="session")
def chromium() -> str:
    path = _find_chromium()
    if path is None:
        try:  # Debian's package; this is how CI gets it too
            subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], check=True, timeout=900,
                           capture_output=True)
        except (OSError, subprocess.SubprocessError) as err:
            try:
                subprocess.run(["apt-get", "update", "-q"], check=True, timeout=300, capture_output=True)
                subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], check=True, timeout=900,
                               capture_output=True)
            except (OSError, subprocess.SubprocessError):
                pytest.skip(f"headless Chromium is not installed and `apt-get install chromium` failed: {err}")
        path = _find_chromium()
        if path is None:
            pytest.skip("apt-get installed chromium but no chromium binary was found")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    voices = tmp_path / "voices"
    voices.mkdir()
    shutil.copytree(DATA / "tiny_duration", voices / "tiny")
    shutil.copytree(DATA / "tiny_autoregressive", voices / "tiny-ar")
    app = create_app(ServiceConfig(voices_dirs=(voices,), builtins=False, default_voice="tiny", workers=2))
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                        ws="websockets-sansio"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


class Page:
    """A minimal CDP client: evaluate JavaScript in one page."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.ids = itertools.count(1)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        msg_id = next(self.ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            reply = json.loads(self.ws.recv(timeout=30))
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]  # type: ignore[no-any-return]

    def js(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait(self, expression: str, timeout: float = 30) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.js(expression)
            if value:
                return value
            time.sleep(0.05)
        shown = self.js("document.getElementById('stats').textContent")
        raise AssertionError(f"timed out waiting for {expression}; the page shows: {shown}")


@pytest.fixture
def page(chromium: str, server: str, tmp_path: Path) -> Iterator[Page]:
    profile = tmp_path / "chromium-profile"
    proc = subprocess.Popen([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"{server}/"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            assert proc.poll() is None, "chromium exited"
            assert time.monotonic() < deadline, "chromium did not open its DevTools port"
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        target = None
        while target is None:
            targets = httpx.get(f"http://127.0.0.1:{port}/json/list").json()
            target = next((t for t in targets if t.get("type") == "page" and t["url"].startswith(server)), None)
            assert time.monotonic() < deadline, f"no page for {server}: {targets}"
            time.sleep(0.1)
        with ws_connect(target["webSocketDebuggerUrl"], max_size=None) as ws:
            page = Page(ws)
            page.wait("document.body && document.body.dataset.ready === '1'")
            yield page
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_the_page_streams_and_plays_audio(page: Page) -> None:
    text = "hello there. this page plays the audio as it streams in."
    options = page.js("[...document.querySelectorAll('#voice option')].map(o => o.value)")
    from voicestack import catalog

    assert {"tiny", "tiny-ar"} <= set(options)
    assert set(options) - {"tiny", "tiny-ar"} <= set(catalog.voice_names())  # built-in and packaged voices
    page.js(f"$('text').value = {json.dumps(text)}; $('voice').value = 'tiny'; $('seed').value = '4'")
    page.js("$('speak').click()")
    page.wait("$('stats').dataset.state === 'done'")
    stats = page.js("({...$('stats').dataset})")
    expected = Voice.load(DATA / "tiny_duration").synthesize(text, seed=4).audio
    assert int(stats["samples"]) == expected.size  # every sample arrived and was decoded
    pcm = np.round(np.clip(expected, -1, 1) * 32767) / 32768
    assert float(stats["rms"]) == pytest.approx(float(np.sqrt(np.mean(pcm**2))), rel=1e-3)
    assert float(stats["rms"]) > 0.001  # it is not silence
    assert stats["firstMs"] != ""

    # the WebSocket button sends the text word by word; audio plays as sentences complete
    page.js("$('voice').value = 'tiny-ar'")
    page.js("$('speak-ws').click()")
    page.wait("$('stats').dataset.state === 'done'")
    stats = page.js("({...$('stats').dataset})")
    assert int(stats["samples"]) > 0 and float(stats["rms"]) > 0.001


def test_the_page_shows_request_errors(page: Page) -> None:
    page.js("$('text').value = ''")
    page.js("$('speak').click()")
    page.wait("$('stats').dataset.state === 'error'")
    assert "input" in page.js("$('stats').textContent")
