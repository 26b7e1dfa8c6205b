"""The Wyoming transport end to end: the real listener on loopback, the wyoming package's
own client (AsyncTcpClient), tiny voices; HTTP beside it over the same Service."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

pytest.importorskip("wyoming")

from service_helpers import LONG, TEXT, config, expected_pcm, metric, wait_for
from wyoming.client import AsyncTcpClient
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeVoice
from wyoming_helpers import Reply, Running, listening, make_wyoming_voices, receive

import voicestack

ROOT = Path(__file__).resolve().parents[2]
FIRST, REST = "hello there.", "how are you today? this is a test of streaming."
SENTENCES = f"{FIRST} {REST}"
JOE_TEXT = "Hello there. This is joe, speaking over Wyoming."


@pytest.fixture(scope="module")
def voices(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_wyoming_voices(tmp_path_factory.mktemp("wyoming") / "voices")


@pytest.fixture
def running(voices: Path) -> Iterator[Running]:
    with listening(config(voices)) as r:
        yield r


def talk(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def synthesize(text: str, **voice: str) -> Event:
    return Synthesize(text=text, voice=SynthesizeVoice(**voice) if voice else None).event()


def test_describe_lists_every_voice_speaker_language_and_version(running: Running) -> None:
    async def go() -> Info:
        async with running.client() as c:
            await c.write_event(Describe().event())
            return Info.from_event(await c.read_event())

    info = talk(go())
    (program,) = info.tts
    assert program.version == voicestack.__version__ and program.supports_synthesize_streaming
    voices = {v.name: v for v in program.voices}
    assert set(running.service.voice_names()) <= set(voices)
    assert {"tiny", "calm", "trio", "slow"} <= set(voices)
    assert [s.name for s in voices["trio"].speakers or []] == ["alice", "bob", "carol"]
    assert voices["tiny"].speakers is None and voices["tiny"].languages == ["en"]


def test_synthesize_streams_the_voices_audio(running: Running, voices: Path) -> None:
    async def go() -> object:
        async with running.client() as c:
            await c.write_event(synthesize(SENTENCES, name="calm"))
            return await receive(c)

    reply = talk(go())
    assert reply.types[0] == "audio-start" and reply.types[-1] == "audio-stop" and reply.error is None
    assert reply.events[0].data["rate"] == 16000 and reply.events[0].data["width"] == 2
    synthesis = running.service.recent[-1]
    assert len(reply.chunks) == synthesis.chunks > 1  # chunk by chunk, as produced
    assert (reply.pcm == expected_pcm(voices / "calm", SENTENCES, seed=1)).all()
    assert synthesis.outcome == "ok" and synthesis.kind == "wyoming"
    wait_for(running.service.idle)


def test_audio_arrives_before_the_synthesis_ends(running: Running) -> None:
    async def go() -> str | None:
        async with running.client() as c:
            await c.write_event(synthesize(TEXT, name="slow"))
            while (await c.read_event()).type != "audio-chunk":
                pass
            outcome = running.service.recent[-1].outcome  # still speaking the rest
            await receive(c)
            return outcome

    assert talk(go()) is None
    assert running.service.recent[-1].outcome == "ok"


def test_speaker_and_language_select_the_voice(running: Running) -> None:
    async def go() -> list[object]:
        async with running.client() as c:
            out = []
            for event in (synthesize("hello", name="trio", speaker="bob"), synthesize("hello", language="EN"),
                          synthesize("hello", language="fr"), synthesize("hello", name="trio", speaker="zed")):
                await c.write_event(event)
                out.append(await receive(c))
            return out

    bob, english, french, unknown = talk(go())
    assert bob.error is None and english.error is None
    names = [(s.name, s.request.speaker and s.request.speaker.name) for s in running.service.recent]
    assert names[:2] == [("trio", "bob"), ("tiny", None)]  # the default voice speaks the language
    assert "no voice speaks 'fr'" in french.error["text"] and "en" in french.error["text"]
    assert "no speaker 'zed'" in unknown.error["text"] and "alice, bob, carol" in unknown.error["text"]


def test_streamed_text_speaks_at_the_first_sentence_end(running: Running, voices: Path) -> None:
    async def go() -> tuple[Reply, Reply]:
        async with running.client() as c:
            await c.write_event(SynthesizeStart(voice=SynthesizeVoice(name="calm")).event())
            for word in FIRST.split():
                await c.write_event(SynthesizeChunk(text=word + " ").event())
            first = await receive(c, until=("audio-chunk", "error"))  # before any more text is sent
            for word in REST.split():
                await c.write_event(SynthesizeChunk(text=word + " ").event())
            await c.write_event(synthesize(SENTENCES))  # the copy for servers that do not stream: ignored
            await c.write_event(SynthesizeStop().event())
            rest = await receive(c, until=("synthesize-stopped", "error"))
            return first, rest

    first, rest = talk(go())
    assert first.types == ["audio-start", "audio-chunk"]
    assert rest.error is None and rest.types[-2:] == ["audio-stop", "synthesize-stopped"]
    assert "audio-start" not in rest.types  # one audio-start ... audio-stop for the whole stream
    spoken = [s.request for s in running.service.recent]
    assert len(spoken) == 3  # one synthesis per sentence; the fallback synthesize was not spoken
    want = [expected_pcm(voices / "calm", t, seed=1) for t in ("hello there.", "how are you today?",
                                                                "this is a test of streaming.")]
    assert (np.concatenate([first.pcm, rest.pcm]) == np.concatenate(want)).all()
    wait_for(running.service.idle)


def test_mistakes_are_error_events_and_the_connection_goes_on(running: Running) -> None:
    limit = running.service.config.max_input_chars

    async def go() -> list[object]:
        async with running.client() as c:
            out = []
            for event in (synthesize("hi", name="nope"), SynthesizeChunk(text="hi").event(),
                          SynthesizeStop().event(), synthesize("   "), synthesize("x" * (limit + 1)),
                          Event("synthesize", {"text": "hi", "voice": "tiny"}),
                          Event("synthesize", {"text": "hi", "voice": {"name": 7}}), synthesize(TEXT, name="crashy")):
                await c.write_event(event)
                out.append((await receive(c)).error)
            await c.write_event(Describe().event())
            out.append((await c.read_event()).type)
            return out

    *errors, after = talk(go())
    texts = [e["text"] if e else None for e in errors]
    assert "unknown voice 'nope'" in texts[0] and "tiny" in texts[0]
    assert texts[1].startswith("synthesize-chunk: no stream is open")
    assert texts[2].startswith("synthesize-stop: no stream is open")
    assert texts[3].startswith("synthesize.text: expected the text to speak")
    assert f"the limit is {limit}" in texts[4] and errors[4]["code"] == "request_too_large"
    assert texts[5].startswith("synthesize.voice: expected an object")
    assert texts[6].startswith("synthesize.voice.name: expected a non-empty string")
    assert "synthesis failed in voice 'crashy'" in texts[7] and errors[7]["code"] == "synthesis_error"
    assert after == "info"
    wait_for(running.service.idle)


@pytest.mark.parametrize("frame, message", [
    (b"this is not json\n", "an event header is not JSON"),
    (b'{"type": "synthesize", "data_length": 99999999999}\n', "data_length must be a whole number"),
    (b'["synthesize"]\n', "must be a JSON object with a string 'type'"),
    (b"x" * 70000 + b"\n", "an event header is longer than"),
])
def test_a_broken_frame_gets_an_error_and_the_connection_ends(running: Running, frame: bytes, message: str) -> None:
    async def go() -> tuple[Event | None, Event | None]:
        reader, writer = await asyncio.open_connection(*running.wyoming)
        client = AsyncTcpClient(*running.wyoming)
        client._reader, client._writer = reader, writer  # the package's reader, on a socket we write raw bytes to
        writer.write(frame)
        await writer.drain()
        first, second = await client.read_event(), await client.read_event()
        writer.close()
        return first, second

    error, end = talk(go())
    assert error is not None and error.type == "error" and message in error.data["text"]
    assert end is None  # closed


def test_a_client_that_leaves_mid_utterance_stops_the_compute(running: Running) -> None:
    async def go() -> None:
        async with running.client() as c:
            await c.write_event(synthesize(LONG, name="slow"))
            await receive(c, until=("audio-chunk",))

    talk(go())
    synthesis = running.service.recent[-1]
    wait_for(lambda: synthesis.outcome is not None)
    assert synthesis.outcome == "cancelled"
    time.sleep(0.2)  # ten chunks' worth of time
    produced = synthesis.chunks
    time.sleep(0.2)
    assert synthesis.chunks == produced  # compute stopped
    assert synthesis.stream.chunks_at_cancel is not None and produced <= synthesis.stream.chunks_at_cancel + 1
    assert produced < 60 and synthesis.request.cancel.is_set()  # the whole text is hundreds of chunks
    wait_for(running.service.idle)
    assert running.service.scheduler.open_count() == 0
    assert metric(running.service.metrics.render().decode(), "voicestack_streams_cancelled_total") == 1


def test_several_clients_at_once(running: Running, voices: Path) -> None:
    texts = [f"client number {n} says hello. and goodbye." for n in ("one", "two", "three", "four", "five")]

    async def one(text: str) -> object:
        async with running.client() as c:
            await c.write_event(synthesize(text, name="calm"))
            return await receive(c)

    async def go() -> list[object]:
        return list(await asyncio.gather(*(one(t) for t in texts)))

    replies = talk(go())
    for text, reply in zip(texts, replies, strict=True):
        assert reply.error is None
        assert (reply.pcm == expected_pcm(voices / "calm", text, seed=1)).all()
    assert sorted(s.outcome for s in running.service.recent) == ["ok"] * len(texts)
    wait_for(running.service.idle)


def test_http_and_wyoming_share_one_service(voices: Path) -> None:
    with listening(config(voices), http=True) as r:
        async def go() -> object:
            async with r.client() as c:
                await c.write_event(synthesize("hello there.", name="calm"))
                return await receive(c)

        reply = talk(go())
        response = httpx.post(f"{r.http}/v1/audio/speech", json={"input": "hello there.", "voice": "calm",
                                                                   "response_format": "pcm"}, timeout=30)
        assert response.status_code == 200 and response.content == reply.pcm.tobytes()
        assert [s.kind for s in r.service.recent] == ["wyoming", "http"]
        assert r.service.pool.loaded() == ["calm"]  # loaded once, for both


@pytest.mark.real_voice
def test_joe_over_wyoming(tmp_path: Path) -> None:
    from voicestack.service.core import ServiceConfig

    with listening(ServiceConfig(voices_dirs=(), builtins=True, workers=2)) as r:
        async def go() -> object:
            async with r.client() as c:
                await c.write_event(SynthesizeStart(voice=SynthesizeVoice(language="en_US")).event())
                for word in JOE_TEXT.split():
                    await c.write_event(SynthesizeChunk(text=word + " ").event())
                await c.write_event(SynthesizeStop().event())
                return await receive(c, until=("synthesize-stopped", "error"))

        reply = talk(go())
    assert reply.error is None and reply.events[0].data["rate"] == 22050
    assert reply.pcm.size > 22050 and abs(reply.pcm.astype(float)).mean() > 100  # over a second of speech


def test_overload_is_an_error_event(voices: Path) -> None:
    with listening(config(voices, max_active_streams=1, max_queue=0)) as r:
        async def go() -> tuple[object, object]:
            async with r.client() as busy, r.client() as late:
                await busy.write_event(synthesize(TEXT, name="slow"))
                await receive(busy, until=("audio-chunk",))  # it holds the only slot
                await late.write_event(synthesize("hello", name="calm"))
                refused = await receive(late)
                return refused, await receive(busy)

        refused, served = talk(go())
        assert refused.error is not None and refused.error["code"] == "overloaded"
        assert "at capacity" in refused.error["text"]
        assert served.error is None and served.types[-1] == "audio-stop"
        wait_for(r.service.idle)


def test_a_region_finds_a_voice_tagged_with_the_bare_language(running: Running) -> None:
    async def go() -> object:
        async with running.client() as c:
            await c.write_event(synthesize("hello", language="en_GB"))
            return await receive(c)

    assert talk(go()).error is None
    assert running.service.recent[-1].name == "tiny"  # the default voice; tagged 'en'


def test_a_streaming_client_that_leaves_stops_the_compute(running: Running) -> None:
    async def go() -> None:
        async with running.client() as c:
            await c.write_event(SynthesizeStart(voice=SynthesizeVoice(name="slow")).event())
            await c.write_event(SynthesizeChunk(text=LONG[:400] + "\n").event())
            await receive(c, until=("audio-chunk",))

    talk(go())
    synthesis = running.service.recent[-1]
    wait_for(lambda: synthesis.outcome is not None)
    assert synthesis.outcome == "cancelled" and synthesis.request.cancel.is_set()
    wait_for(running.service.idle)
    produced = synthesis.chunks
    time.sleep(0.2)
    assert synthesis.chunks == produced
    assert len(running.service.recent) == 1  # the sentences after it were never started


def test_a_failure_in_a_stream_is_an_error_and_the_stream_still_ends(running: Running) -> None:
    async def go() -> object:
        async with running.client() as c:
            await c.write_event(SynthesizeStart(voice=SynthesizeVoice(name="crashy")).event())
            await c.write_event(SynthesizeChunk(text=TEXT + " and one more sentence.").event())
            await c.write_event(SynthesizeStop().event())
            return await receive(c, until=("synthesize-stopped",))

    reply = talk(go())
    assert reply.error is not None and reply.error["code"] == "synthesis_error"
    assert reply.types[-2:] == ["audio-stop", "synthesize-stopped"]
    outcomes = [s.outcome for s in running.service.recent]
    assert outcomes[-1] == "error" and len(outcomes) < 4  # nothing spoken after the failure
    wait_for(running.service.idle)
