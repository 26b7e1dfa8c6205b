"""SSML: parsing (errors name element, attribute, line:col), readers, and speaking a document."""

from __future__ import annotations

import numpy as np
import pytest

import voicestack
from voicestack.errors import RequestError
from voicestack.text.ssml import Break, Segment, looks_like_ssml, parse_ssml, say_as

TINY_A = "tests/data/tiny_duration"
TINY_B = "tests/data/tiny_attention"


def _longest_silence(audio: np.ndarray, floor: float = 1e-6) -> int:
    quiet = np.abs(audio) <= floor
    best = run = 0
    for q in quiet:
        run = run + 1 if q else 0
        best = max(best, run)
    return best


def test_break_and_voice_switch_in_one_stream():
    a, b = voicestack.load_voice(TINY_A), voicestack.load_voice(TINY_B)
    doc = '<speak>hello there <break time="700ms"/> <voice name="tiny-b">switched voice</voice></speak>'
    chunks = list(a.stream(doc, ssml=True, seed=5, voices={"tiny-b": b}.__getitem__))
    out = np.concatenate([c.audio for c in chunks])
    first = a.synthesize("hello there", seed=5).audio
    second = b.synthesize("switched voice", seed=5).audio
    gap = int(0.7 * 16000)
    assert _longest_silence(out) >= int(0.65 * 16000)
    assert out.size == first.size + gap + second.size
    assert np.array_equal(out[: first.size], first)  # voice A, then the silence, then voice B
    assert not np.any(out[first.size: first.size + gap])
    assert np.array_equal(out[first.size + gap:], second)
    words = [(w.text, w.start) for c in chunks for w in c.words]
    assert [w for w, _ in words] == ["hello", "there", "switched", "voice"]
    assert words[2][1] == pytest.approx((first.size + gap) / 16000)


def test_prosody_rate_and_volume():
    a = voicestack.load_voice(TINY_A)
    plain = a.synthesize("hello there", seed=2).audio
    quiet = np.concatenate([c.audio for c in a.stream('<speak><prosody volume="-6dB">hello there</prosody></speak>',
                                                      ssml=True, seed=2)])
    assert np.allclose(quiet, plain * 10 ** (-6 / 20), atol=1e-6)
    fast = np.concatenate([c.audio for c in a.stream('<speak><prosody rate="200%">hello there</prosody></speak>',
                                                     ssml=True, seed=2)])
    assert fast.size < 0.75 * plain.size


def test_segments_of_a_document():
    doc = ('<speak><p><s>A <say-as interpret-as="ordinal">3</say-as> try</s><s>at '
           '<say-as interpret-as="time">7:05</say-as></s></p><break strength="strong"/>'
           '<prosody rate="slow"><sub alias="World Wide Web">WWW</sub> <phoneme ph="təmˈɑːtoʊ">tomato</phoneme>'
           '</prosody> <emphasis level="strong">now</emphasis></speak>')
    assert parse_ssml(doc) == [
        Segment("A third try", "A third try"), Segment("at seven oh five", "at seven oh five"), Break(0.7),
        Segment("World Wide Web [[ təmˈɑːtoʊ ]]", "World Wide Web tomato", rate=0.75), Segment("now", "now")]


@pytest.mark.parametrize("kind, text, said", [
    ("cardinal", "1,234", "one thousand two hundred thirty-four"), ("ordinal", "21", "twenty-first"),
    ("digits", "4071", "four zero seven one"), ("characters", "ABC", "A.B.C"),
    ("telephone", "555-013-2748", "five five five, zero one three, two seven four eight"),
    ("date", "2024-03-14", "March fourteenth, twenty twenty-four"), ("time", "19:30", "nineteen thirty"),
])
def test_say_as_readers(kind, text, said):
    assert say_as(kind, text) == said


@pytest.mark.parametrize("doc, message", [
    ('<speak>\n  <break time="7 parsecs"/></speak>',
     "SSML line 2:3: <break> attribute 'time': '7 parsecs' is not a duration"),
    ('<speak><prosody speed="2">x</prosody></speak>', "SSML line 1:8: <prosody> attribute 'speed': unknown attribute"),
    ('<speak><prosody rate="9000%">x</prosody></speak>', "<prosody> attribute 'rate': '9000%' is out of range"),
    ('<speak><blink>x</blink></speak>', "SSML line 1:8: <blink>: not supported here"),
    ('<speak>never closed', "SSML line 1:20: no element found"),
    ('<!DOCTYPE s [<!ENTITY a "aaaa">]><speak>&a;</speak>', "entities, DTDs and external references are not allowed"),
    ('<voice name="x">hi</voice>', "the document must be a <speak> element"),
    ('<speak><say-as interpret-as="date">soon</say-as></speak>', "<say-as>: 'soon' is not a date"),
    ('<speak><sub>WWW</sub></speak>', "<sub> attribute 'alias': missing"),
])
def test_errors_name_element_attribute_and_position(doc, message):
    with pytest.raises(RequestError) as err:
        parse_ssml(doc)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_detection_and_nothing_to_say():
    assert looks_like_ssml('  <?xml version="1.0"?>\n<speak>hi</speak>') and not looks_like_ssml("a <speak> b")
    a = voicestack.load_voice(TINY_A)
    with pytest.raises(RequestError, match="nothing to speak"):
        list(a.stream("<speak>   </speak>", ssml=None))


@pytest.mark.real_voice
def test_joe_switches_to_joe_mel_after_a_break():
    joe = voicestack.load_voice("joe")
    doc = '<speak>Hello there.<break time="700ms"/><voice name="joe-mel">And now another voice.</voice></speak>'
    chunks = list(joe.stream(doc, ssml=True, seed=1))
    out = np.concatenate([c.audio for c in chunks])
    rate = joe.sample_rate
    assert _longest_silence(out) >= int(0.65 * rate)
    first = joe.synthesize("Hello there.", seed=1).audio
    assert np.array_equal(out[: first.size], first)
    rest = out[first.size + int(0.7 * rate):]
    assert rest.size > rate and np.sqrt(np.mean(rest**2)) > 0.01  # joe-mel speaks after the silence
    assert [w.text for c in chunks for w in c.words][-4:] == ["And", "now", "another", "voice"]


@pytest.mark.real_voice
def test_raw_phonemes_and_ssml_phoneme_for_espeak_voices():
    joe = voicestack.load_voice("joe")
    raw = [p.phonemes for p in joe.frontend.pieces("Say [[ təmˈɑːtoʊ ]] now.")]
    assert raw == ["sˈeɪ təmˈɑːtoʊ nˈaʊ."]
    ssml = np.concatenate([c.audio for c in joe.stream(
        '<speak>Say <phoneme ph="təmˈɑːtoʊ">tomato</phoneme> now.</speak>', ssml=True, seed=1)])
    assert np.array_equal(ssml, joe.synthesize("Say [[ təmˈɑːtoʊ ]] now.", seed=1).audio)
