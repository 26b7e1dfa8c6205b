"""``voicestack serve``: the voice service, with the listeners asked for (one option per
registered transport: ``--http HOST:PORT``, ``--wyoming tcp://HOST:PORT``), all over one
service (one voice pool, one scheduler) in one event loop. With no listener option it
serves HTTP at ``--host``/``--port``."""

from __future__ import annotations

import argparse
from typing import Any

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8000


def add_parser(sub: Any, port_type: Any) -> None:
    from voicestack.service.transports import TRANSPORTS

    p = sub.add_parser("serve", help="run the voice service (HTTP, Wyoming, ...)",
                       description="Run the voice service. Each listener option may be given more than once; "
                                   "every listener shares one voice pool and scheduler.")
    p.add_argument("--host", help=f"HTTP address to listen on (default: {DEFAULT_HOST}; same as --http HOST:PORT)")
    p.add_argument("--port", type=port_type, help=f"HTTP port, 0-65535 (default: {DEFAULT_PORT})")
    for name in TRANSPORTS:
        cls = TRANSPORTS.get(name, "transport")
        summary = (cls.__doc__ or name).strip().split("\n\n")[0].replace("\n", " ").rstrip(".")
        p.add_argument(f"--{name}", action="append", default=[], metavar="ADDRESS",
                       help=f"{summary} (e.g. {cls.example}; needs the '{cls.extra}' extra)")
    p.add_argument("--config", help="service configuration (a JSON file)")
    p.add_argument("--ray", nargs="?", const="", metavar="RAY_JSON",
                   help="deploy replicas of the HTTP service on Ray Serve instead (options: a JSON file; "
                        "docs/scale-out.md; needs the 'ray' extra)")
    p.set_defaults(func=run)


def listeners(args: argparse.Namespace) -> list[Any]:
    """The transports asked for, parsed (a bad address is a SpecError naming the option)."""
    from voicestack.cli import CliError
    from voicestack.service.transports import TRANSPORTS, make

    asked = [(name, address) for name in TRANSPORTS for address in getattr(args, name, [])]
    legacy = args.host is not None or args.port is not None
    if legacy and any(name == "http" for name, _ in asked):
        raise CliError("serve: give the HTTP address either as --http HOST:PORT or as --host/--port, not both")
    if legacy or not asked:
        host = args.host if args.host is not None else DEFAULT_HOST
        port = args.port if args.port is not None else DEFAULT_PORT
        shown = f"[{host}]" if ":" in host else host
        asked.insert(0, ("http", f"{shown}:{port}"))
    return [make(name, address) for name, address in asked]


def run(args: argparse.Namespace) -> int:
    if args.ray is not None:
        return run_on_ray(args)
    transports = listeners(args)  # first: a bad address or a missing extra says so before anything loads
    from voicestack.service.core import ServiceConfig
    from voicestack.service.transports import run as serve

    config = ServiceConfig.load(args.config)
    serve(transports, config)
    return 0


def run_on_ray(args: argparse.Namespace) -> int:
    """Replicas of the HTTP service on Ray Serve, its proxy at --host/--port."""
    from voicestack.cli import CliError

    if any(getattr(args, name, None) for name in ("http", "wyoming")):
        raise CliError("serve: --ray deploys the HTTP service at --host/--port; other listeners are not relayed")
    try:
        from voicestack.service.ray_serve import run as deploy
    except ImportError as err:
        raise CliError(f"--ray needs its extra: pip install 'voicestack[serve,ray]' ({err})") from None
    host = args.host if args.host is not None else DEFAULT_HOST
    port = args.port if args.port is not None else DEFAULT_PORT
    deploy(host, port, args.config, args.ray or None)
    return 0
