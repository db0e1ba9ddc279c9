"""The package layering: every import of uare (lazy ones inside functions included) points down or sideways.

Lowest first; a package may import its own layer's packages and the layers below, never a layer above,
and the package graph has no cycle. The command line (``uare/cli.py``, ``uare/cli_*.py``) is the top:
it parses and prints, and no package imports it.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PKG = REPO / "uare"

LAYERS: list[tuple[str, ...]] = [
    ("uare", "errors", "limits", "threads", "progress", "hub", "tasks"),  # no uare dependencies but errors
    ("io", "metrics"),  # image files; quality metrics
    ("degrade",),  # the degradation engine (and uare degrade's file handling)
    ("quality", "prompts"),  # the quality language: scores, levels, texts
    ("model",),  # the network, its checkpoints and its VAE
    ("data", "infer"),  # training data; inference
    ("train",),  # training (exports with infer's defaults)
    ("baselines",),  # classical restorers, the model as a baseline, NR scorers
    ("eval",),  # evaluation and benchmarks
    ("web",),  # the demo
    ("cli", "__main__"),  # the command line: uare/cli.py, uare/cli_*.py
]
RANK = {unit: i for i, layer in enumerate(LAYERS) for unit in layer}


def _module(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _unit(module: str) -> str:
    """``uare.eval.bench`` -> ``eval``; ``uare.cli_eval`` -> ``cli``; ``uare`` -> ``uare``."""
    parts = module.split(".")
    if len(parts) == 1:
        return "uare"
    return "cli" if parts[1].startswith("cli") else parts[1]


def _imports(path: Path, here: str | None = None) -> list[tuple[str, int]]:
    """Every uare module ``path`` (module ``here``) imports (``from uare import x``: ``uare.x``), with its line."""
    here = here or _module(path)
    package = here if path.name == "__init__.py" else here.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "uare"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] != "uare":
                continue
            if mod == "uare":  # from uare import errors / __version__
                out += [(f"uare.{a.name}" if (PKG / a.name).exists() or (PKG / f"{a.name}.py").exists()
                         else "uare", node.lineno) for a in node.names]
            else:
                out.append((mod, node.lineno))
    return out


def _graph() -> dict[tuple[str, str], list[str]]:
    edges: dict[tuple[str, str], list[str]] = {}
    for f in sorted(PKG.rglob("*.py")):
        src = _unit(_module(f))
        for mod, line in _imports(f):
            dst = _unit(mod)
            if dst != src:
                edges.setdefault((src, dst), []).append(f"{f.relative_to(REPO)}:{line}")
    return edges


def test_every_package_has_a_layer() -> None:
    units = {_unit(_module(f)) for f in PKG.rglob("*.py")}
    assert not units - set(RANK), f"add these to LAYERS in {Path(__file__).name}: {sorted(units - set(RANK))}"


def test_no_package_imports_a_higher_layer() -> None:
    up = [f"{src} -> {dst} ({', '.join(where)})" for (src, dst), where in _graph().items()
          if RANK.get(dst, 99) > RANK.get(src, -1)]
    assert not up, "imports that point up the layers:\n" + "\n".join(up)


def test_no_package_imports_the_command_line() -> None:
    bad = [f"{src} -> cli ({', '.join(where)})" for (src, dst), where in _graph().items() if dst == "cli"
           and src != "__main__"]
    assert not bad, bad


def test_the_package_graph_has_no_cycle() -> None:
    succ: dict[str, set[str]] = {}
    for src, dst in _graph():
        succ.setdefault(src, set()).add(dst)
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(u: str, path: list[str]) -> None:
        state[u] = 1
        for v in sorted(succ.get(u, ())):
            assert state.get(v) != 1, "import cycle: " + " -> ".join([*path, u, v])
            if v not in state:
                visit(v, [*path, u])
        state[u] = 2

    for u in sorted(succ):
        if u not in state:
            visit(u, [])


def test_the_check_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    """The parser catches an import inside a function and a relative one (a guard on the guard)."""
    f = tmp_path / "probe.py"
    f.write_text("def f():\n    from uare.eval import bench\n\nfrom ..train import plan\nimport uare.web.app\n")
    assert {m for m, _ in _imports(f, "uare.model.probe")} == {"uare.eval", "uare.train", "uare.web.app"}
