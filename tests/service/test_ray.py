"""The service on Ray Serve: a real local Ray instance on loopback, two replicas of the
service, requests through Ray's HTTP proxy (streaming, a client leaving mid-stream,
placement by voice, every replica's metrics), and every Ray process gone afterwards."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="Ray Serve is not installed (pip install 'voicestack[ray]')")
serve = pytest.importorskip("ray.serve", reason="Ray Serve is not installed (pip install 'voicestack[ray]')")

from service_helpers import LONG, TEXT, alive, descendants, free_port, make_addon, metric, wait_for
from service_helpers import serve as serve_direct

from voicestack.errors import SpecError
from voicestack.service import ServiceConfig
from voicestack.service.ray_serve import APP_NAME

pytestmark = pytest.mark.ray

SITE = Path(__file__).parent / "ray_site"  # a plugin with a slow stage, found through its entry point
SRC = Path(__file__).resolve().parents[2] / "src"


def make_voices(root: Path) -> Path:
    root.mkdir()
    make_addon(root / "duration")
    make_addon(root / "speakers", "tiny_speakers_id")
    make_addon(root / "slow", effects=[{"type": "SlowChunks", "seconds": 0.01}])
    return root


@pytest.fixture(scope="module")
def ray_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from voicestack.service.ray_serve import application

    voices = make_voices(tmp_path_factory.mktemp("ray") / "voices")
    config = ServiceConfig(voices_dirs=(voices,), builtins=False, default_voice="duration", workers=1,
                           max_active_streams=4, max_queue=4)
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "RAY_USAGE_STATS_ENABLED")}
    temp = tempfile.mkdtemp(prefix="vsray-")  # short: Ray puts unix sockets under it
    before = descendants(os.getpid())
    started: set[int] = set()
    try:
        # Ray's workers inherit this environment: the source tree, the test plugin, no usage stats
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), str(SITE), saved["PYTHONPATH"]) if p)
        os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, _temp_dir=temp)
        port = free_port()
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        options = {"replicas": 2, "replica_cpus": 0.5, "ingress_cpus": 0.25, "voices_per_replica": 3}
        serve.run(application(config, options), name=APP_NAME, route_prefix="/")
        started = descendants(os.getpid()) - before  # Ray's processes, the proxy, the replicas
        yield {"url": f"http://127.0.0.1:{port}", "config": config, "voices": voices}
    finally:
        serve.shutdown()
        ray.shutdown()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        deadline = time.monotonic() + 60
        while any(alive(p) for p in started) and time.monotonic() < deadline:
            time.sleep(0.1)
        shutil.rmtree(temp, ignore_errors=True)
    assert len(started) >= 5 and not [p for p in started if alive(p)], "Ray processes left running"


def replicas(url: str) -> dict[str, dict[str, Any]]:
    data = httpx.get(f"{url}/v1/replicas", timeout=30).json()["data"]
    return {r["replica"]: r for r in data}


def speech(voice: str, text: str = TEXT, **extra: Any) -> dict[str, Any]:
    return {"model": "tts-1", "input": text, "voice": voice, "response_format": "pcm", "seed": 3, **extra}


def test_two_replicas_answer_and_expose_their_metrics(ray_service: dict[str, Any]) -> None:
    url = ray_service["url"]
    wait_for(lambda: len(replicas(url)) == 2, 60)
    r = httpx.post(f"{url}/v1/audio/speech", json=speech("duration"), timeout=60)
    assert r.status_code == 200, r.text
    served_by = r.headers["x-voicestack-replica"]
    page = httpx.get(f"{url}/metrics", timeout=30).text
    ids = set(replicas(url))
    assert served_by in ids
    for rid in ids:  # every replica's own metrics, labelled by replica
        assert f'voicestack_voices_loaded{{replica="{rid}"}}' in page
    assert metric(page, "voicestack_requests_total", replica=served_by, endpoint="/v1/audio/speech",
                  status="200") >= 1
    assert metric(page, "voicestack_audio_seconds_total", replica=served_by, voice="duration") > 0


def test_audio_streams_through_the_proxy_and_matches_a_direct_server(ray_service: dict[str, Any]) -> None:
    url, voices = ray_service["url"], ray_service["voices"]
    parts: list[bytes] = []
    with httpx.stream("POST", f"{url}/v1/audio/speech", json=speech("slow", LONG[:450]), timeout=60) as r:
        assert r.status_code == 200
        rid = r.headers["x-voicestack-replica"]
        for part in r.iter_raw():
            if part and not parts:
                # the first bytes are here while the replica is still computing the rest
                assert replicas(url)[rid]["active_streams"] == 1
            parts.append(part)
    body = b"".join(parts)
    assert len([p for p in parts if p]) > 2 and len(parts[0]) < len(body) / 2
    # the same networks (without the slow stage, which leaves the audio as it is) on a plain server
    with serve_direct(ServiceConfig(voices_dirs=(voices,), builtins=False, default_voice="duration")) as (direct, _):
        plain = httpx.post(f"{direct}/v1/audio/speech", json=speech("duration", LONG[:450]), timeout=60).content
    assert len(plain) > 0
    assert np.array_equal(np.frombuffer(body, "<i2"), np.frombuffer(plain, "<i2"))


def test_client_leaving_stops_the_replica_synthesis(ray_service: dict[str, Any]) -> None:
    url = ray_service["url"]
    before = httpx.get(f"{url}/metrics", timeout=30).text
    text = f"{LONG} {LONG}"[:3600]  # within max_input_chars; about 19 s of compute in the slow stage
    with httpx.stream("POST", f"{url}/v1/audio/speech", json=speech("slow", text), timeout=60) as r:
        assert r.status_code == 200
        rid = r.headers["x-voicestack-replica"]
        got = 0
        for part in r.iter_raw():
            got += len(part)
            if got:
                break  # leave mid-stream: the connection closes with the context
    wait_for(lambda: replicas(url)[rid]["idle"], 60)  # slot, lease and generator all given back
    after = httpx.get(f"{url}/metrics", timeout=30).text
    assert metric(after, "voicestack_streams_cancelled_total", replica=rid) == \
        metric(before, "voicestack_streams_cancelled_total", replica=rid) + 1
    made = metric(after, "voicestack_chunks_total", replica=rid, voice="slow") - \
        metric(before, "voicestack_chunks_total", replica=rid, voice="slow")
    full = _chunks(ray_service["voices"] / "duration", text)
    assert 0 < made < full / 2  # computing stopped long before the end of the text
    later = httpx.get(f"{url}/metrics", timeout=30).text  # and nothing more is computed afterwards
    assert metric(later, "voicestack_chunks_total", replica=rid, voice="slow") == \
        metric(after, "voicestack_chunks_total", replica=rid, voice="slow")


def _chunks(addon: Path, text: str) -> int:
    from voicestack.voice import Voice

    return sum(1 for _ in Voice.load(addon).stream(text))


def test_requests_land_on_the_replica_holding_their_voice(ray_service: dict[str, Any]) -> None:
    url = ray_service["url"]
    first = httpx.post(f"{url}/v1/audio/speech", json=speech("speakers"), timeout=60)
    assert first.status_code == 200, first.text
    home = first.headers["x-voicestack-replica"]
    assert "speakers" in replicas(url)[home]["voices_loaded"]
    # Ray's routers learn which replica holds the voice from its reports (every 0.1 s): wait
    # until a router here (fed by the same broadcast as the ingress's) sends the voice there
    probe = serve.get_deployment_handle("VoiceReplica", APP_NAME).options(multiplexed_model_id="speakers")
    wait_for(lambda: all(probe.report.remote().result()["replica"] == home for _ in range(3)), 60)
    landed = [httpx.post(f"{url}/v1/audio/speech", json=speech("speakers", seed=i), timeout=60)
              .headers["x-voicestack-replica"] for i in range(8)]
    assert landed == [home] * 8
    holders = [rid for rid, r in replicas(url).items() if "speakers" in r["voices_loaded"]]
    assert holders == [home]
    page = httpx.get(f"{url}/metrics", timeout=30).text
    assert metric(page, "voicestack_voice_loads_total", voice="speakers") == 1  # loaded once, on one replica


def test_bad_requests_are_answered_through_the_relay(ray_service: dict[str, Any]) -> None:
    url = ray_service["url"]
    r = httpx.post(f"{url}/v1/audio/speech", content=b"{not json", timeout=30)
    assert r.status_code == 400 and "JSON" in r.json()["error"]["message"]
    r = httpx.post(f"{url}/v1/audio/speech", json=speech("nobody"), timeout=30)
    assert r.status_code == 400 and r.json()["error"]["param"] == "voice"
    limit = ray_service["config"].max_input_chars * 4 + 65536
    r = httpx.post(f"{url}/v1/audio/speech", content=b"x" * (limit + 1), timeout=30)
    assert r.status_code == 413 and str(limit) in r.json()["error"]["message"]
    assert json.loads(httpx.get(f"{url}/v1/voices", timeout=30).text)["object"] == "list"


def test_replica_settings_follow_the_service_limits() -> None:
    from voicestack.service.ray_serve import RayOptions, replica_settings

    cfg = ServiceConfig(workers=4, max_active_streams=12, max_queue=3)
    fixed = replica_settings(cfg, RayOptions(replicas=3, replica_cpus=4))
    assert fixed["num_replicas"] == 3 and "autoscaling_config" not in fixed
    assert fixed["max_ongoing_requests"] == 12 and fixed["max_queued_requests"] == 3
    assert fixed["ray_actor_options"] == {"num_cpus": 4}
    auto = replica_settings(cfg, RayOptions(replicas=2, max_replicas=6))["autoscaling_config"]
    assert (auto["min_replicas"], auto["max_replicas"], auto["target_ongoing_requests"]) == (2, 6, 2.8)
    own = replica_settings(cfg, RayOptions(replicas=1, max_replicas=2, target_ongoing_requests=50,
                                           max_ongoing_requests=8))
    assert own["max_ongoing_requests"] == 8 and own["autoscaling_config"]["target_ongoing_requests"] == 8
    with pytest.raises(SpecError, match="max_replicas: got 1, expected 0 or >= replicas"):
        RayOptions(replicas=2, max_replicas=1)


def test_a_voice_ray_drops_is_unloaded_once(tmp_path: Path) -> None:
    from voicestack.service.app import create_app
    from voicestack.service.ray_serve import _LoadedVoice

    app = create_app(ServiceConfig(voices_dirs=(make_voices(tmp_path / "voices"),), builtins=False))
    pool = app.state.service.pool
    try:
        pool.acquire("duration").release()
        held = _LoadedVoice(app.state.service, "duration")
        held.__del__()  # Ray evicts it (least recently used beyond voices_per_replica)
        assert "duration" not in pool.loaded()
        pool.acquire("duration").release()  # loaded again for a later request
        held.__del__()  # the collector finalises the old object: the new load stays
        assert "duration" in pool.loaded()
    finally:
        app.state.service.close()
