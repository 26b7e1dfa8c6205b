"""``voicestack say``: text -> audio file, stdout, or (``--dry-run``) the phonemes.

Everything about the output is checked before the voice loads: the format (from
``--format`` or the file's extension), the directory (exists, is writable: the temporary
file is created there first), binary into a terminal. The audio is encoded as produced
into a hidden temporary file renamed into place at the end (with the umask's
permissions); any error or signal removes it.
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from voicestack.cli import CliError
from voicestack.codecs import ENCODERS, EXTENSIONS, Encoder, encode_to, encoder, format_for_path

DEFAULT_FORMAT = "wav"


def add_parser(sub: Any) -> None:
    say = sub.add_parser("say", help="speak text into an audio file (or onto stdout)",
                         description="Speak text with a voice. The audio is written as it is produced.")
    say.add_argument("text", help="the text, or - to read it from standard input")
    out = say.add_mutually_exclusive_group()
    out.add_argument("-o", "--output", metavar="FILE",
                     help="audio file to write, or - for stdout; the extension picks the format "
                          f"({', '.join(sorted(EXTENSIONS))}; none: {DEFAULT_FORMAT})")
    out.add_argument("--raw", action="store_true",
                     help="16-bit little-endian mono PCM on stdout, as produced (same as -o - --format pcm)")
    say.add_argument("--format", choices=list(ENCODERS), help="audio format, whatever the file's extension")
    say.add_argument("--dry-run", action="store_true",
                     help="print the normalised text, the pieces and their phonemes; synthesise nothing")
    say.add_argument("-v", "--voice", default="joe", help="voice name or addon directory (default: %(default)s)")
    say.add_argument("--profile", metavar="PROFILE",
                     help="a profile name (default, static, openvino, or the addon's own), "
                          "inline JSON ('{\"runtime\": ...}') or a JSON file")
    say.add_argument("--speaker", help="a speaker of a multi-speaker voice (see `voicestack voices`)")
    say.add_argument("--length-scale", type=float, help="speaking time factor (>1 slower); default from the voice")
    say.add_argument("--noise-scale", type=float, help="voice variability (VITS noise); default from the voice")
    say.add_argument("--noise-w", type=float, help="duration variability; default from the voice")
    say.add_argument("--seed", type=int, help="random seed: the same seed gives the same audio")
    say.add_argument("--ssml", action="store_true",
                     help="the text is an SSML document (text starting with <speak is read as SSML anyway)")
    say.add_argument("--words", metavar="FILE",
                     help="also write the word timings there, one JSON object a line ({\"text\", \"start\", \"end\"}, "
                          "seconds), or - for stderr")
    say.set_defaults(func=run)


# ------------------------------------------------------------------ the output


@dataclass
class Target:
    """Where the audio goes: a file (via a temporary file beside it), a device/FIFO
    written directly, or stdout."""

    fmt: str
    path: Path | None  # None: stdout
    direct: bool = False  # an existing non-regular file (a FIFO, /dev/null): no temporary file

    @property
    def label(self) -> str:
        return "stdout" if self.path is None else str(self.path)


def check_target(args: argparse.Namespace) -> Target:
    """Decide and check the output before any synthesis; raises CliError."""
    if args.raw:
        return _stdout_target(args.format or "pcm")
    if args.output is None:
        raise CliError("say: where should the audio go? give -o FILE, -o - (stdout) or --raw")
    if args.output == "":
        raise CliError("say: -o: the output path is empty")
    if args.output == "-":
        return _stdout_target(args.format or DEFAULT_FORMAT)
    path = Path(args.output).expanduser()
    fmt = args.format or format_for_path(path) or (DEFAULT_FORMAT if not path.suffix else None)
    if fmt is None:
        raise CliError(f"say: cannot tell the audio format from '{path.name}'; use one of the extensions "
                       f"{', '.join(sorted(EXTENSIONS))} or --format {{{','.join(ENCODERS)}}}")
    try:
        info = path.stat()
    except FileNotFoundError:
        info = None
    except OSError as err:
        raise CliError(f"say: cannot write {path}: {err.strerror}") from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise CliError(f"say: {path} is a directory; give a file name (e.g. {path / ('out.' + fmt)})")
    if info is not None and not stat.S_ISREG(info.st_mode):
        return Target(fmt, path, direct=True)
    parent = path.parent
    try:
        is_dir = stat.S_ISDIR(parent.stat().st_mode)
    except FileNotFoundError:
        raise CliError(f"say: cannot write {path}: the directory {parent} does not exist") from None
    except OSError as err:
        raise CliError(f"say: cannot write {path}: {err.strerror} ({parent})") from None
    if not is_dir:
        raise CliError(f"say: cannot write {path}: {parent} is not a directory")
    return Target(fmt, path)


def _stdout_target(fmt: str) -> Target:
    if sys.stdout.isatty():
        raise CliError(f"say: refusing to write binary {fmt} audio into a terminal; redirect it "
                       "(> out.pcm, | aplay ...) or use -o FILE")
    return Target(fmt, None)


def _open(target: Target, stack: ExitStack) -> BinaryIO:
    """The file to encode into; a temporary file is created now, before synthesis, so
    an unwritable directory fails at once."""
    from voicestack.audio import atomic_output, close_quietly

    if target.path is None:
        return sys.stdout.buffer
    if target.direct:
        try:
            out = open(target.path, "wb")  # noqa: SIM115 - closed by the stack
        except OSError as err:
            raise CliError(f"say: cannot write {target.path}: {err.strerror}") from None
        stack.callback(close_quietly, out)  # after a failed write, close without a second error
        return out

    try:
        return stack.enter_context(atomic_output(target.path))
    except OSError as err:
        raise CliError(f"say: cannot write {target.path}: {err.strerror} (in {target.path.parent})") from None


# ------------------------------------------------------------------ the command


def read_text(arg: str) -> str:
    if arg != "-":
        text = arg
    else:
        try:
            text = sys.stdin.buffer.read().decode("utf-8")
        except UnicodeDecodeError as err:
            raise CliError(f"say: standard input is not UTF-8 text (byte {err.start}: {err.reason})") from None
    if not text.strip():
        raise CliError("say: nothing to speak: the text is empty")
    return text


def parse_profile(value: str | None) -> str | dict[str, Any] | None:
    """--profile: a name, inline JSON (starts with '{') or a JSON file."""
    if value is None:
        return None
    source, raw = "", value
    if not value.lstrip().startswith("{"):
        path = Path(value).expanduser()
        if not (path.suffix.lower() == ".json" or os.sep in value or path.is_file()):
            return value  # a profile name
        try:
            raw = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            reason = err.strerror if isinstance(err, OSError) else "not UTF-8 text"
            raise CliError(f"--profile: cannot read {path}: {reason}") from None
        source = f" in {path}"
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as err:
        raise CliError(f"--profile: invalid JSON{source}: {err.msg} at line {err.lineno} column {err.colno}") from None
    if not isinstance(data, dict):
        raise CliError(f"--profile: expected a JSON object{source}, got {type(data).__name__}")
    return data


def run(args: argparse.Namespace) -> int:
    if args.dry_run:
        from voicestack.cli.phonemes import dry_run

        return dry_run(args.voice, read_text(args.text), speaker=args.speaker)
    target = check_target(args)
    profile = parse_profile(args.profile)
    text = read_text(args.text)
    from voicestack.text.ssml import looks_like_ssml, parse_ssml

    ssml = args.ssml or looks_like_ssml(text)
    if ssml:
        parse_ssml(text)  # a bad document is reported before anything loads or is written
    with ExitStack() as stack:
        words = _words_file(args.words, stack)
        out = _open(target, stack)
        import voicestack

        voice = voicestack.load_voice(args.voice, profile=profile)
        enc = encoder(target.fmt, voice.sample_rate)
        req = voice.request(length_scale=args.length_scale, noise_scale=args.noise_scale,
                            noise_w=args.noise_w, seed=args.seed, speaker=args.speaker)
        req.word_timings = words is not None  # matching words to phonemes only when --words asks for it
        chunks = voice.stream(text, request=req, ssml=ssml)
        if words is not None:
            chunks = _with_words(chunks, words)
        audio = _with_progress(chunks, len(text)) if len(text) > 400 and sys.stderr.isatty() else \
            (c.audio for c in chunks)
        samples = _encode(out, audio, enc, target)
    for message in dict.fromkeys(str(e["message"]) for e in req.events if e.get("message")):
        print(f"note: {message}", file=sys.stderr)  # text it skipped, a fallback that took over
    if target.path is not None:
        print(f"{target.label}: {samples / voice.sample_rate:.2f} s of {target.fmt} at {enc.rate} Hz", file=sys.stderr)
    return 0


def _words_file(path: str | None, stack: ExitStack) -> Any:
    if path is None:
        return None
    if path == "-":
        return sys.stderr
    try:
        return stack.enter_context(open(path, "w", encoding="utf-8"))
    except OSError as err:
        raise CliError(f"say: --words: cannot write {path}: {err.strerror or err}") from None


def _with_words(chunks: Iterator[Any], out: Any) -> Iterator[Any]:
    for chunk in chunks:
        for word in chunk.words:
            out.write(json.dumps(word.to_json(), ensure_ascii=False) + "\n")
        yield chunk


def _encode(out: BinaryIO, audio: Iterator[Any], enc: Encoder, target: Target) -> int:
    try:
        return encode_to(out, audio, enc, flush=target.path is None or target.direct)
    except OSError as err:
        if isinstance(err, BrokenPipeError):
            raise
        raise CliError(f"say: cannot write {target.label}: {err.strerror or err}") from None


def _with_progress(chunks: Iterator[Any], characters: int) -> Iterator[Any]:
    """A progress bar advanced by the characters the audio produced so far covers
    (estimated at 14 characters a second of speech, completed at the end)."""
    from tqdm import tqdm

    produced = 0.0
    with tqdm(total=characters, unit="char", desc="speaking", file=sys.stderr, leave=False) as bar:
        for chunk in chunks:
            produced += chunk.duration
            bar.n = min(characters, int(produced * 14.0))
            bar.refresh()
            yield chunk.audio
        bar.n = characters
        bar.refresh()
