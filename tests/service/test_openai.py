"""OpenAI compatibility as the ``openai`` Python package sees it: the official client
against a real server on loopback. Every response format streams as produced and
decodes with a standard decoder (PyAV, soundfile, Python's ``wave``, ffprobe if
installed); OpenAI's voice names, ``speed`` and its other fields behave as OpenAI's
API documents them."""

from __future__ import annotations

import base64
import io
import json
import shutil
import struct
import subprocess
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

openai = pytest.importorskip("openai")
av = pytest.importorskip("av")

from service_helpers import TEXT, assert_idle, config, expected_pcm, make_addon, serve

from voicestack.service.core.config import OPENAI_VOICES

LOSSLESS = ("wav", "flac", "pcm")
RATE = 16000  # the tiny voices' rate


@pytest.fixture
def api(server: tuple[str, Any]) -> Iterator[Any]:
    with client(server[0]) as c:
        yield c


def client(url: str) -> Any:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="not-needed", max_retries=0, timeout=60)


def paced_voice(voices_dir: Path) -> str:
    """A tiny voice slower than real time (3 ms per chunk of about 1 ms of audio): each
    codec's first packet has to leave long before the end, and a run still takes < 1 s."""
    make_addon(voices_dir / "paced", effects=[{"type": "TestSleep", "seconds": 0.003}])
    return "paced"


def decode(data: bytes) -> tuple[int, np.ndarray]:
    """PyAV (FFmpeg's demuxers and decoders): the rate and the samples as 16-bit."""
    with av.open(io.BytesIO(data)) as container:
        rate = container.streams.audio[0].rate
        frames = [f.to_ndarray().reshape(-1) for f in container.decode(audio=0)]
    audio = np.concatenate(frames) if frames else np.zeros(0)
    if audio.dtype.kind == "f":
        audio = np.round(np.clip(audio, -1, 1) * 32767)
    return rate, audio.astype("<i2")


@pytest.mark.parametrize("fmt", ["mp3", "opus", "aac", "flac", "wav", "pcm"])
def test_each_format_streams_as_produced_and_decodes(server: tuple[str, Any], api: Any, voices_dir: Path,
                                                    fmt: str) -> None:
    _, service = server
    name, text = paced_voice(voices_dir), TEXT * 3
    parts: list[bytes] = []
    chunks_at_first_bytes = None
    with api.audio.speech.with_streaming_response.create(
            model="tts-1", voice=name, input=text, response_format=fmt, extra_body={"seed": 7}) as r:
        assert r.headers["x-voice"] == name
        assert r.headers.get("transfer-encoding") == "chunked"
        for part in r.iter_bytes():
            if part and chunks_at_first_bytes is None:
                chunks_at_first_bytes = service.recent[-1].chunks
            parts.append(part)
    synthesis = service.recent[-1]
    assert synthesis.outcome == "ok"
    # the first bytes left while most of the audio was still to be computed
    assert chunks_at_first_bytes is not None and chunks_at_first_bytes < synthesis.chunks / 2, \
        (chunks_at_first_bytes, synthesis.chunks)
    data = b"".join(parts)
    want = expected_pcm(voices_dir / "tiny", text, seed=7)  # the same network, without the pause
    if fmt == "pcm":
        assert r.headers["content-type"] == f"audio/L16;rate={RATE};channels=1"
        np.testing.assert_array_equal(np.frombuffer(data, "<i2"), want)
        return
    rate, got = decode(data)
    if fmt in LOSSLESS:
        assert rate == RATE
        np.testing.assert_array_equal(got, want)
    else:  # lossy: the codec's rate, the whole length (plus its delay and padding), real signal
        assert rate == (48000 if fmt == "opus" else RATE)
        seconds, expected = got.size / rate, want.size / RATE
        assert expected <= seconds < expected + 0.2, (seconds, expected)
        assert 0.3 < np.std(got) / np.std(want) < 3.0
    assert_idle(service)


def test_a_streamed_wav_saved_by_the_client_reads_right(api: Any, voices_dir: Path, tmp_path: Path) -> None:
    """The header is OpenAI's (RIFF and data sizes 0xFFFFFFFF: "until the end"), since a
    stream's length is unknown when its header leaves. A size of 0 would be worse: ``wave``
    refuses such a file and soundfile reads no samples."""
    out = tmp_path / "speech.wav"
    with api.audio.speech.with_streaming_response.create(
            model="tts-1", voice="tiny", input=TEXT, response_format="wav", extra_body={"seed": 3}) as r:
        r.stream_to_file(out)
    want = expected_pcm(voices_dir / "tiny", TEXT, seed=3)
    data = out.read_bytes()
    assert struct.unpack("<I", data[4:8])[0] == 0xFFFFFFFF and data[36:40] == b"data"
    assert struct.unpack("<I", data[40:44])[0] == 0xFFFFFFFF

    import soundfile

    info = soundfile.info(out)
    assert (info.samplerate, info.channels, info.frames) == (RATE, 1, want.size)
    np.testing.assert_array_equal(soundfile.read(out, dtype="int16")[0], want)

    with wave.open(str(out)) as w:  # wave takes the header's count; it reads the samples present
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (RATE, 1, 2)
        np.testing.assert_array_equal(np.frombuffer(w.readframes(w.getnframes()), "<i2"), want)

    if shutil.which("ffprobe"):
        shown = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=duration_ts", "-of", "json",
                                str(out)], capture_output=True, text=True, check=True).stdout
        assert json.loads(shown)["streams"][0]["duration_ts"] == want.size


def test_openai_voice_names_speak_with_the_default_voice(voices_dir: Path) -> None:
    with serve(config(voices_dir, voice_aliases={"nova": "tiny-ar", "onyx": "slow"})) as (url, service), \
            client(url) as api:
        want = {name: "tiny" for name in OPENAI_VOICES} | {"nova": "tiny-ar", "onyx": "slow"}
        for name in OPENAI_VOICES:
            r = api.audio.speech.with_raw_response.create(model="tts-1", voice=name, input="hello.",
                                                          response_format="pcm")
            assert r.headers["x-voice"] == want[name]
            assert len(r.content) > 0
        # the custom-voice object form names a voice here
        r = api.audio.speech.with_raw_response.create(model="tts-1", voice={"id": "tiny-ar"}, input="hello.",
                                                      response_format="pcm")
        assert r.headers["x-voice"] == "tiny-ar"
        with pytest.raises(openai.BadRequestError) as err:
            api.audio.speech.create(model="tts-1", voice={"name": "tiny"}, input="hello.")
        assert err.value.param == "voice"
        listed = {v["id"]: v for v in api.get("/voices", cast_to=object)["data"]}
        assert "nova" in listed["tiny-ar"]["aliases"] and "alloy" in listed["tiny"]["aliases"]
        assert_idle(service)


def test_an_alias_to_a_missing_voice_names_the_voice_field(voices_dir: Path) -> None:
    with serve(config(voices_dir, voice_aliases={"alloy": "gone"})) as (url, _), client(url) as api:
        with pytest.raises(openai.BadRequestError) as err:
            api.audio.speech.create(model="tts-1", voice="alloy", input="hello.")
        assert err.value.param == "voice" and "'gone'" in err.value.message and "alias" in err.value.message


def test_speed_maps_to_length_scale(server: tuple[str, Any], api: Any, voices_dir: Path) -> None:
    _, service = server
    for speed in (0.25, 2.0, 4.0):
        r = api.audio.speech.with_raw_response.create(model="tts-1", voice="tiny", input=TEXT, speed=speed,
                                                      response_format="pcm", extra_body={"seed": 5})
        want = expected_pcm(voices_dir / "tiny", TEXT, seed=5, length_scale=1.0 / speed)
        np.testing.assert_array_equal(np.frombuffer(r.content, "<i2"), want)
    for speed in (0.2, 4.5, 0):
        with pytest.raises(openai.BadRequestError) as err:
            api.audio.speech.create(model="tts-1", voice="tiny", input="hello.", speed=speed)
        assert err.value.param == "speed" and "0.25" in err.value.message
    assert_idle(service)


def test_other_openai_fields_are_taken_or_refused_as_openai_does(server: tuple[str, Any], api: Any) -> None:
    _, service = server
    r = api.audio.speech.with_raw_response.create(model="gpt-4o-mini-tts", voice="coral", input="hello.",
                                                  instructions="Speak in a cheerful tone.", stream_format="audio")
    assert r.status_code == 200 and r.headers["content-type"] == "audio/mpeg" and r.headers["x-model"] == \
        "gpt-4o-mini-tts"
    assert decode(r.content)[1].size > 0  # no response_format: mp3, as OpenAI's default
    refused = [({"stream_format": "sse"}, "stream_format"), ({"response_format": "ogg"}, "response_format"),
               ({"extra_body": {"temperature": 0.5}}, "temperature"), ({"input": ""}, "input"),
               ({"instructions": 5}, "instructions")]
    for kwargs, param in refused:
        args: dict[str, Any] = {"model": "tts-1", "voice": "alloy", "input": "hello.", **kwargs}
        with pytest.raises(openai.BadRequestError) as err:
            api.audio.speech.create(**args)
        assert err.value.param == param, (kwargs, err.value.body)
        assert err.value.type == "invalid_request_error" and "Traceback" not in err.value.message
    assert_idle(service)


def test_server_sent_events_carry_the_audio_as_produced(server: tuple[str, Any], api: Any, voices_dir: Path) -> None:
    """``stream_format: "sse"`` (OpenAI's gpt-4o-mini-tts; refused for tts-1 as OpenAI does)."""
    _, service = server
    events = []
    with api.audio.speech.with_streaming_response.create(
            model="gpt-4o-mini-tts", voice="tiny", input=TEXT, response_format="pcm", stream_format="sse",
            extra_body={"seed": 9}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line:
                assert line.startswith("data: ")
                events.append(json.loads(line.removeprefix("data: ")))
    kinds = [e["type"] for e in events]
    assert len(kinds) > 2 and set(kinds[:-1]) == {"speech.audio.delta"} and kinds[-1] == "speech.audio.done"
    assert set(events[-1]["usage"]) == {"input_tokens", "output_tokens", "total_tokens"}
    audio = b"".join(base64.b64decode(e["audio"]) for e in events[:-1])
    np.testing.assert_array_equal(np.frombuffer(audio, "<i2"), expected_pcm(voices_dir / "tiny", TEXT, seed=9))
    assert_idle(service)


def test_a_voice_failing_mid_stream_ends_the_events_with_an_error(server: tuple[str, Any], api: Any) -> None:
    _, service = server
    with api.audio.speech.with_streaming_response.create(
            model="gpt-4o-mini-tts", voice="crashy", input=TEXT, response_format="wav", stream_format="sse") as r:
        events = [json.loads(line.removeprefix("data: ")) for line in r.iter_lines() if line]
    assert events[0]["type"] == "speech.audio.delta" and events[-1]["type"] == "error"
    assert "speech.audio.done" not in [e["type"] for e in events]
    assert events[-1]["error"]["type"] == "synthesis_error" and "Traceback" not in json.dumps(events)
    assert service.recent[-1].outcome == "error"
    assert_idle(service)


@pytest.mark.real_voice
def test_joe_answers_to_openai_names_in_every_format(tmp_path: Path) -> None:
    """The real voice behind ``alloy``: wav is joe's audio (>= 60 dB against synthesize,
    window seams aside), and each compressed format decodes to the same length of speech."""
    import voicestack
    from voicestack.audio import to_pcm16
    from voicestack.service import ServiceConfig

    text = "Hello there. This is the voice service, speaking through the OpenAI client."
    want = np.frombuffer(to_pcm16(voicestack.load_voice("joe").synthesize(text, seed=5).audio), "<i2")
    with serve(ServiceConfig(voices_dirs=(), builtins=True, workers=2)) as (url, service), client(url) as api:
        for fmt in ("wav", "mp3", "opus", "aac", "flac"):
            r = api.audio.speech.with_raw_response.create(model="tts-1", voice="alloy", input=text,
                                                          response_format=fmt, extra_body={"seed": 5})
            assert r.headers["x-voice"] == "joe" and r.headers["x-sample-rate"] == "22050"
            rate, got = decode(r.content)
            if fmt in ("wav", "flac"):
                noise = np.sum((got.astype(np.float64) - want) ** 2)
                assert got.shape == want.shape and 10 * np.log10(np.sum(want.astype(np.float64) ** 2) / noise) >= 60
            else:
                assert want.size / 22050 <= got.size / rate < want.size / 22050 + 0.2, fmt
                assert 0.5 < np.std(got) / np.std(want) < 2.0, fmt
        assert_idle(service)
