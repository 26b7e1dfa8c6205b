"""The layers point one way: no import cycle in src/, lazy and TYPE_CHECKING imports counted,
and no leaf or runtime module imports the layers above it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
SHARED_TOOL = ROOT.parent / "shared" / "tools" / "import_cycles.py"

# a module -> the prefixes of the modules it may never import (the layers above it)
FORBIDDEN = {
    "voicestack.errors": ["voicestack."],
    "voicestack.params": ["voicestack.tensors", "voicestack.runtime", "voicestack.addon", "voicestack.components"],
    "voicestack.tensors": ["voicestack.runtime", "voicestack.addon", "voicestack.components"],
    "voicestack.paths": ["voicestack.runtime", "voicestack.addon", "voicestack.components", "voicestack.catalog"],
    "voicestack.registry": ["voicestack.components", "voicestack.runtime", "voicestack.addon", "voicestack.service"],
    "voicestack.onnxtools": ["voicestack.addon", "voicestack.runtime", "voicestack.components", "voicestack.catalog"],
    "voicestack.runtime": ["voicestack.addon", "voicestack.catalog", "voicestack.components", "voicestack.voice",
                           "voicestack.assembly", "voicestack.service"],
    "voicestack.networks": ["voicestack.addon", "voicestack.components", "voicestack.catalog", "voicestack.voice",
                            "voicestack.assembly", "voicestack.service", "voicestack.frontends"],
    "voicestack.addon": ["voicestack.components", "voicestack.catalog", "voicestack.voice", "voicestack.assembly",
                         "voicestack.service", "voicestack.frontends"],
    "voicestack.components": ["voicestack.catalog", "voicestack.voice", "voicestack.assembly", "voicestack.service",
                              "voicestack.cli", "voicestack.importers"],
    "voicestack.service.core": ["starlette", "uvicorn", "websockets", "voicestack.service.app",
                                "voicestack.service.ws", "voicestack.cli"],
}


def _modules() -> dict[str, Path]:
    out = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        for target in _imports(path):
            parts = target.split(".")
            while parts and ".".join(parts) not in mods:
                parts.pop()
            dst = ".".join(parts)
            if dst and dst != mod and not mod.startswith(dst + "."):
                edges[mod].add(dst)
    return edges


def test_no_import_cycles() -> None:
    edges = _graph()
    state: dict[str, int] = {}

    def visit(m: str, trail: list[str]) -> list[str] | None:
        state[m] = 1
        for n in sorted(edges[m]):
            if state.get(n) == 1:
                return [*trail[trail.index(n):], n] if n in trail else [m, n]
            if n not in state:
                found = visit(n, [*trail, n])
                if found:
                    return found
        state[m] = 2
        return None

    for m in sorted(edges):
        if m not in state:
            cycle = visit(m, [m])
            assert cycle is None, f"import cycle: {' -> '.join(cycle)}"


def test_lower_layers_never_import_higher_ones() -> None:
    mods = _modules()
    bad = []
    for mod, path in mods.items():
        rules = [p for owner, prefixes in FORBIDDEN.items() if mod == owner or mod.startswith(owner + ".")
                 for p in prefixes]
        for target in _imports(path):
            if any(target == p.rstrip(".") or target.startswith(p if p.endswith(".") else p + ".") or target == p
                   for p in rules) and not target.startswith(mod):
                bad.append(f"{mod} imports {target}")
    assert not bad, "\n".join(sorted(set(bad)))


def test_the_shared_cycle_tool_agrees() -> None:
    if not SHARED_TOOL.is_file():  # the project's own check above still ran
        return
    out = subprocess.run([sys.executable, str(SHARED_TOOL), str(SRC)], capture_output=True, text=True, check=False)
    assert out.stdout.strip() == "no import cycles", out.stdout
