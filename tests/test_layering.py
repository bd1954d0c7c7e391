"""The package's layering, read from the imports of every module file (ast), module level and
inside functions alike.

The flow (docs/architecture.md): ``scene`` (specs, geometry, labels) <- ``render`` (Blender) and
``datasets`` (recipes, balance, plans, files); ``datasets`` reaches ``render`` only through
its bridge modules, and lazily; ``trials`` (the trial table, how evaluators read a dataset)
<- ``metrics`` <- ``deciders`` and ``report``. The shared utilities (``errors``, ``extras``,
``fileio``, ``rng``, ``resources``, ``columns``) import no layer. ``vpt/cli.py`` sits on top.
The benchmark drivers (``benchmarks/``) and maintenance scripts (``tools/``) live outside the package.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

PKG = ROOT / "vpt"
BASE = {"errors", "extras", "fileio", "rng", "resources", "columns"}
# layer -> the layers it may import (besides itself and BASE)
ALLOWED: dict[str, set[str]] = {
    **{b: set() for b in BASE},
    "scene": set(),
    "render": {"scene"},
    "datasets": {"scene", "render"},
    "trials": {"datasets"},
    "metrics": {"trials"},
    "deciders": {"scene", "datasets", "trials", "metrics"},
    "report": {"datasets", "trials", "metrics"},
    "cli": {"scene", "render", "datasets", "trials", "metrics", "deciders", "report"},
}
# third-party packages each layer must never import, anywhere in its modules
SDKS = ("openai", "anthropic", "google.genai")
NN = ("torch", "torchvision", "timm", "transformers", "captum")
BLENDER = ("bpy", "mathutils", "bmesh")
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "scene": BLENDER + NN + SDKS + ("ray",),
    "datasets": BLENDER + NN + SDKS + ("ray",),
    "trials": BLENDER + NN + SDKS + ("ray",),
    "metrics": BLENDER + NN + SDKS + ("ray",),
    "report": BLENDER + NN + SDKS + ("ray",),
    "render": NN + SDKS,
    "deciders": BLENDER + ("ray",),
    **{b: BLENDER + NN + SDKS + ("ray",) for b in BASE},
}
# Declared exceptions. The render bridge of `datasets` (make_renderer, vpt verify's viewer
# renders) imports `vpt.render` inside functions, so planning never loads Blender; at module
# level it may import only render modules that are plain Python.
RENDER_BRIDGE = {"vpt.datasets.render_stage", "vpt.datasets.verify"}
BLENDER_FREE_RENDER = {"vpt.render.worker", "vpt.render.presets", "vpt.render.jobs"}


def module_files() -> list[Path]:
    return sorted(PKG.rglob("*.py"))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "vpt" and len(parts) > 1 else None


def imports(path: Path) -> list[tuple[str, int, bool]]:
    """(imported module, line, at module level) for every import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    mod = module_name(path)
    package = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    in_function = {id(c) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                   for c in ast.walk(f)}  # imports there run when called, not when imported
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                names = [".".join(base + ([node.module] if node.module else []))]
            else:
                names = [node.module or ""]
        else:
            continue
        out += [(n, node.lineno, id(node) not in in_function) for n in names]
    return out


def _matches(name: str, roots: tuple[str, ...]) -> str | None:
    return next((r for r in roots if name == r or name.startswith(r + ".")), None)


def violations() -> list[str]:
    bad = []
    for path in module_files():
        mod = module_name(path)
        layer = layer_of(mod)
        rel = path.relative_to(ROOT)
        for name, line, top in imports(path):
            where = f"{rel}:{line}: {mod} imports {name}"
            hit = _matches(name, FORBIDDEN.get(layer, ()))
            if hit:
                bad.append(f"{where}: the {layer} layer never imports {hit}")
                continue
            target = layer_of(name)
            if target is None or target == layer:
                continue
            if target not in ALLOWED.get(layer, set()) | BASE:
                bad.append(f"{where}: {layer} may import only {sorted(ALLOWED.get(layer, set()) | BASE)} "
                           f"(nothing upstream imports downstream)")
            elif layer == "datasets" and target == "render":
                if mod not in RENDER_BRIDGE:
                    bad.append(f"{where}: only the render bridge ({', '.join(sorted(RENDER_BRIDGE))}) reaches "
                               "vpt.render")
                elif top and name not in BLENDER_FREE_RENDER:
                    bad.append(f"{where}: at module level; import it inside the function that renders "
                               f"(module level allows only {sorted(BLENDER_FREE_RENDER)})")
    return bad


def test_layering_is_respected():
    bad = violations()
    assert not bad, "layering violations:\n" + "\n".join(bad)


def test_the_checker_catches_violations(tmp_path, monkeypatch):
    """A scene module importing datasets, a datasets module importing bpy in a function and
    vpt.render at module level, metrics importing deciders: each is named with its line."""
    fake = tmp_path / "vpt"
    for sub, text in {
        "scene/bad.py": "from vpt.datasets import build\n",
        "datasets/bad.py": "import vpt.render.build\n\ndef f():\n    import bpy\n",
        "datasets/render_stage.py": "from vpt.render.executor import make_executor\n\ndef g():\n"
                                    "    from vpt.render.blender import probe_bpy\n",
        "metrics/bad.py": "def h():\n    from vpt.deciders import base\n",
        "report/ok.py": "from vpt.metrics import scores\nfrom . import html\n",
    }.items():
        (fake / sub).parent.mkdir(parents=True, exist_ok=True)
        (fake / sub).write_text(text)
    monkeypatch.setattr(sys.modules[__name__], "PKG", fake)
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    bad = violations()
    text = "\n".join(bad)
    assert len(bad) == 5, text
    assert "vpt/scene/bad.py:1: vpt.scene.bad imports vpt.datasets" in text
    assert "vpt/datasets/bad.py:4: vpt.datasets.bad imports bpy: the datasets layer never imports bpy" in text
    assert "vpt/datasets/bad.py:1: vpt.datasets.bad imports vpt.render.build: only the render bridge" in text
    assert "vpt/datasets/render_stage.py:1:" in text and "at module level" in text
    assert "vpt/metrics/bad.py:2: vpt.metrics.bad imports vpt.deciders: metrics may import only" in text


@pytest.mark.parametrize("layers", [("scene", "datasets", "trials", "metrics", "report")])
def test_importing_the_generator_loads_no_heavy_package(layers):
    """Import every module of those layers in a fresh interpreter: neither Blender, a
    network library nor an API SDK (nor Ray) may end up loaded, even through a dependency."""
    mods = [module_name(p) for p in module_files() if layer_of(module_name(p)) in layers]
    heavy = BLENDER + NN + SDKS + ("ray",)
    code = ("import importlib, sys\n"
            f"for m in {mods!r}: importlib.import_module(m)\n"
            f"print(sorted({{k.split('.')[0] if k.split('.')[0] != 'google' else k for k in sys.modules}} "
            f"& set({heavy!r})))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]", f"importing {', '.join(layers)} loaded {out.stdout.strip()}"


# --- import cycles --------------------------------------------------------------------------
# Every module of the package, the modules it imports (module level and inside functions, as
# above), and no cycle among them: a module that needs another's piece and is needed back
# moves the piece one level down (vpt.scene.primitives, vpt.render.factory did so).


def import_graph() -> dict[str, dict[str, int]]:
    """module -> {package module it imports: first line}. ``from vpt.a import b`` counts as
    importing ``vpt.a.b`` when that is a module, else ``vpt.a``; a package's ``__init__``
    that Python runs on the way is not an edge (it would make every package a cycle)."""
    files = {module_name(p): p for p in module_files()}
    graph: dict[str, dict[str, int]] = {m: {} for m in files}
    for mod, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        package = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            else:
                continue
            for name in names:
                if name in files and name != mod:
                    graph[mod].setdefault(name, node.lineno)
    return graph


def import_cycles(graph: dict[str, dict[str, int]] | dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative), each
    as one cycle through all of them where one exists in order, sorted for stable output."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    comps: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in graph:
                    continue
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    comps.append(sorted(comp))
    return sorted(comps)


def cycle_path(graph: dict[str, dict[str, int]] | dict[str, set[str]], comp: list[str]) -> list[str]:
    """One concrete cycle inside a strongly connected component: its first module, the
    modules a shortest path leads through, and the first module again."""
    start, members = comp[0], set(comp)
    prev: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v]):
                if w not in members:
                    continue
                if w == start and v != start:
                    back = [v]  # v, the module before it, ..., start
                    while back[-1] != start:
                        back.append(prev[back[-1]])
                    return back[::-1] + [start]
                if w not in prev and w != start:
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    return comp  # pragma: no cover (a component always holds a cycle)


def describe_cycle(graph: dict[str, dict[str, int]], comp: list[str]) -> str:
    path = cycle_path(graph, comp)
    steps = [f"{a} (line {graph[a][b]}) imports {b}" if isinstance(graph[a], dict) else f"{a} imports {b}"
             for a, b in zip(path, path[1:])]
    return f"cycle among {', '.join(comp)}: " + "; ".join(steps)


def test_no_import_cycles():
    graph = import_graph()
    cycles = import_cycles(graph)
    assert not cycles, ("import cycles (move what both need into a module one level down):\n"
                        + "\n".join(describe_cycle(graph, c) for c in cycles))


def test_the_cycle_finder_finds_cycles():
    """A hand-made graph: a 2-cycle, a 3-cycle reached from it, a self-import (not a cycle
    between modules), a diamond (no cycle) and an edge to a module outside the graph."""
    graph = {"a": {"a", "b"}, "b": {"a", "c"}, "c": {"d"}, "d": {"e"}, "e": {"c"}, "f": {"f", "g", "h"},
             "g": {"i"}, "h": {"i"}, "i": {"outside"}}
    assert import_cycles(graph) == [["a", "b"], ["c", "d", "e"]]
    assert cycle_path(graph, ["c", "d", "e"]) == ["c", "d", "e", "c"]
    assert cycle_path(graph, ["a", "b"]) == ["a", "b", "a"]
    assert import_cycles({"x": {"y"}, "y": set()}) == []


def test_the_cycle_check_reads_the_package(tmp_path, monkeypatch):
    """On a fake package: a cycle through ``from package import module`` and one through an
    import inside a function are both found and named with their lines; a package's
    ``__init__`` importing its own module is not a cycle."""
    fake = tmp_path / "vpt"
    for sub, text in {
        "__init__.py": "",
        "scene/__init__.py": "from vpt.scene import spec\n",
        "scene/spec.py": "import math\n",
        "scene/labels.py": "from vpt.scene import raster, spec\n",
        "scene/raster.py": "import numpy\n\n\ndef f():\n    from .labels import occluder_rows\n",
        "render/executor.py": "def g():\n    import vpt.render.ray_executor\n",
        "render/ray_executor.py": "from vpt.render.executor import run_shard\n",
        "render/factory.py": "from vpt.render import executor, ray_executor\n",
    }.items():
        (fake / sub).parent.mkdir(parents=True, exist_ok=True)
        (fake / sub).write_text(text)
    monkeypatch.setattr(sys.modules[__name__], "PKG", fake)
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    graph = import_graph()
    cycles = import_cycles(graph)
    assert cycles == [["vpt.render.executor", "vpt.render.ray_executor"], ["vpt.scene.labels", "vpt.scene.raster"]]
    text = "\n".join(describe_cycle(graph, c) for c in cycles)
    assert ("vpt.scene.labels (line 1) imports vpt.scene.raster; "
            "vpt.scene.raster (line 5) imports vpt.scene.labels") in text
    assert "vpt.render.executor (line 2) imports vpt.render.ray_executor" in text
