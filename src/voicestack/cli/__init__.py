"""The ``voicestack`` command.

A user's mistake (a bad path, an unknown voice, a bad profile, a full disk, ...) ends
with one line on stderr and a non-zero exit, never a traceback: every such error is a
:class:`~voicestack.errors.VoicestackError` or an ``OSError`` and is printed by
:func:`main`. SIGTERM and SIGHUP unwind like Ctrl-C, so temporary files are removed.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

from voicestack.errors import SpecError, VoicestackError

__all__ = ["CliError", "build_parser", "main"]

EXIT_ERROR = 2  # a user's mistake or an environment problem (disk full, ...)
EXIT_INVALID = 1  # `addon validate`: the addon has problems


class CliError(VoicestackError):
    """A mistake in the command line itself (printed as one line)."""


class Terminated(BaseException):
    """SIGTERM or SIGHUP: unwinds like KeyboardInterrupt so ``finally`` blocks clean up."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("voicestack")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


class _Parser(argparse.ArgumentParser):
    """argparse, with its usage errors on one line (argparse prints usage + message)."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        where = " ".join(self.prog.split()[1:])  # the subcommand: "say", "addon validate"
        self.exit(EXIT_ERROR, f"voicestack: error: {where + ': ' if where else ''}{message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from voicestack.cli import addon, say, voices

    parser = _Parser(prog="voicestack", description="Streaming text-to-speech with swappable model stacks.")
    parser.add_argument("--version", action="version", version=f"voicestack {_version()}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    say.add_parser(sub)
    voices.add_parser(sub)
    addon.add_parser(sub)

    from voicestack import evaluate

    evaluate.add_parser(sub)

    serve = sub.add_parser("serve", help="run the HTTP voice service")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    serve.add_argument("--port", type=_port, default=8000, help="TCP port to listen on, 0-65535 (default: %(default)s)")
    serve.add_argument("--config", help="service configuration (a JSON file)")
    serve.add_argument("--ray", nargs="?", const="", metavar="RAY_JSON",
                       help="deploy replicas of the service on Ray Serve (options: a JSON file; docs/scale-out.md)")

    def serve_or_ray(args: argparse.Namespace) -> int:
        if args.ray is None:
            return cmd_serve(args)
        try:
            from voicestack.service.ray_serve import run as run_on_ray
        except ImportError as err:
            raise CliError(f"--ray needs its extra: pip install 'voicestack[serve,ray]' ({err})") from None
        run_on_ray(args.host, args.port, args.config, args.ray or None)
        return 0

    serve.set_defaults(func=serve_or_ray)
    return parser


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a TCP port 0-65535, got {value!r}")
    return port


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        from voicestack.service.app import run
    except ImportError as err:
        raise CliError(f"the service needs its extra: pip install 'voicestack[serve]' ({err})") from None
    run(args.host, args.port, args.config)
    return 0


def one_line(err: BaseException) -> str:
    """An error as one line: a SpecError's problems are joined with '; '."""
    if isinstance(err, OSError):
        where = f": {err.filename}" if err.filename else ""
        return f"{err.strerror or err}{where}"
    return "; ".join(line.strip() for line in str(err).splitlines() if line.strip()) or type(err).__name__


def _quiet_stdout() -> None:
    """After stdout failed (full disk, closed pipe), point it at /dev/null so the
    interpreter's final flush does not print a second error."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _on_signal(signum: int, frame: Any) -> None:
    raise Terminated(signum)


def main(argv: Sequence[str] | None = None) -> int:
    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        args = build_parser().parse_args(argv)
        func: Callable[[argparse.Namespace], int | None] = args.func
        return int(func(args) or 0)
    except SpecError as err:
        print(f"voicestack: error: {one_line(err)}", file=sys.stderr)
        return EXIT_ERROR
    except VoicestackError as err:
        print(f"voicestack: error: {one_line(err)}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        _quiet_stdout()
        return 0  # the reader went away (`| head`): not an error
    except OSError as err:
        if err.filename is None:
            _quiet_stdout()
        print(f"voicestack: error: {one_line(err)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("voicestack: interrupted", file=sys.stderr)
        return 130
    except Terminated as err:
        return 128 + err.signum
    finally:
        try:
            sys.stdout.flush()
        except OSError:
            _quiet_stdout()
        for s, handler in previous.items():
            signal.signal(s, handler)


if __name__ == "__main__":
    sys.exit(main())
