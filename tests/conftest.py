"""Shared test helpers: small recipes derived from the defaults, and the tiny benchmark that
the baseline, report, VLM and vision tests share (planned once, rendered once per session)."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
import yaml

from vpt.resources import recipes_dir

ROOT = Path(__file__).resolve().parents[1]
RECIPES = recipes_dir()  # the default recipes (scenes/ in a checkout, vpt/_data/scenes in a wheel)


def recipe_dict(name: str) -> dict:
    return yaml.safe_load((RECIPES / f"{name}.yaml").read_text())


def pytest_collection_modifyitems(config, items):
    """A test on the rendered tiny benchmark is a render test (`-m "not render"` leaves it out)."""
    for item in items:
        if "tiny_rendered" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.render)


@pytest.fixture(autouse=True)
def _vlm_test_prices(monkeypatch):
    """Every test prices VLM calls from tests/vlm_test_prices.yaml (fixed, not real prices),
    so that the mocked-transport tests' arithmetic does not move with the shipped table; the
    shipped table (evaluation/prices/prices.yaml) is tested on its own in test_vlm_prices.py."""
    monkeypatch.setenv("VPT_PRICES", str(ROOT / "tests" / "vlm_test_prices.yaml"))


@pytest.fixture
def small_binary() -> dict:
    """The default depth-vpt recipe with small splits (fast to plan)."""
    d = copy.deepcopy(recipe_dict("depth-vpt"))
    d["splits"] = {"train": 64, "val": 32, "test": 64, "ood": 32}
    d["human_set"] = 32
    d["warmup"] = 8
    d["balance"]["pool"] = 2  # matched selection still runs, on a small pool
    return d


@pytest.fixture
def small_sweeps() -> dict:
    d = copy.deepcopy(recipe_dict("vpt-strategy"))
    d["sweeps"] = {"occluder_slide": {"count": 2, "steps": 11}, "viewer_turn": {"count": 1, "steps": 11},
                   "depth_pass": {"count": 1, "steps": 9}, "max_attempts": 300}
    return d


@pytest.fixture(autouse=True)
def _few_audit_permutations(monkeypatch):
    """The plan-time shortcut audit's permutation null costs 21 full single-cue audits at the
    default (20 permutations), which dominated every test that plans a recipe. Tests that are
    about the null pass ``permutations=`` explicitly, so the suite runs it with 2; real runs
    keep the default."""
    from vpt.datasets import audit

    monkeypatch.setattr(audit, "N_PERMUTATIONS", 2)


@pytest.fixture(autouse=True)
def _hub_offline(monkeypatch):
    """No test downloads model weights: the suite runs as `HF_HUB_OFFLINE=1` (vpt downloads
    missing weights by default, as timm does); tests about downloads change it themselves."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


# ---------------------------------------------------------------- the tiny benchmark, once per session

SMALL_LABELS = {"min_ball_px": 1.2, "min_viewer_px": 2.2}  # 64 px images


def tiny_binary(name: str, splits: dict, human_set: int, warmup: int) -> dict:
    """The default depth-vpt recipe at 64 px with the given split sizes (matched selection on a
    small pool)."""
    d = copy.deepcopy(recipe_dict("depth-vpt"))
    d["balance"]["pool"] = 2
    d.update(name=name, splits=splits, human_set=human_set, warmup=warmup, resolution=[64, 64])
    d["labels"].update(SMALL_LABELS)
    d.pop("human_resolution", None)
    return d


def tiny_sweeps(name: str, counts: dict, steps: int) -> dict:
    """The default vpt-strategy recipe at 64 px with ``counts`` sweeps of each kind (others 0)."""
    d = copy.deepcopy(recipe_dict("vpt-strategy"))
    d.update(name=name, resolution=[64, 64])
    d.setdefault("labels", {}).update(SMALL_LABELS)
    d.pop("human_resolution", None)
    kinds = ("occluder_slide", "viewer_turn", "depth_pass", "occluder_move", "invariance")
    d["sweeps"] = {k: {"count": counts.get(k, 0), "steps": steps} for k in kinds} | {"max_attempts": 300}
    return d


def tiny_conflict(name: str) -> dict:
    """The default conflict recipe at 64 px with one look-alike pair per split (no human set,
    no warm-up, compared with no basic set), each pair solved in a job of its own."""
    d = copy.deepcopy(recipe_dict("conflict"))
    d.update(name=name, splits={"train": 2, "val": 2, "test": 2, "ood": 2}, human_set=0, warmup=0,
             resolution=[64, 64])
    d["labels"].update(SMALL_LABELS)
    d.pop("human_resolution", None)
    d["conflict"].update(pairs_per_job=1, basic="")
    return d


def _no_audit(*args, **kwargs):
    from vpt.errors import UserError

    raise UserError("skipped for the shared tiny benchmark (the audit has its own tests)")


def build_tiny(recipes: list[dict], out: Path, **render) -> None:
    """``build_dataset`` for each recipe into ``out``, without the shortcut audit (it only costs
    time here); ``render`` passes renderer, render_key and bpy_version through."""
    from vpt.datasets import pipeline
    from vpt.datasets.recipe import parse_recipe

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipeline, "audit_plan", _no_audit)
        mp.setattr(pipeline, "audit_dataset", _no_audit)
        for d in recipes:
            pipeline.build_dataset(parse_recipe(d), out, progress=False, log=lambda msg: None, **render)


@pytest.fixture(scope="session")
def tiny_benchmark(tmp_path_factory) -> Path:
    """A planned (not rendered) tiny binary dataset ``tiny`` (train 32, val 8, test 16, ood 8;
    human set 8, warm-up 4) with a sweep dataset ``tiny-sweeps`` beside it (one occluder-slide,
    viewer-turn and depth-pass sweep of 7 steps); returns the binary dataset's folder.
    Shared by the whole session: read it only; a test that writes into it takes
    ``tiny_benchmark_copy``."""
    out = tmp_path_factory.mktemp("tiny-benchmark")
    build_tiny([tiny_binary("tiny", {"train": 32, "val": 8, "test": 16, "ood": 8}, 8, 4),
                tiny_sweeps("tiny-sweeps", {"occluder_slide": 1, "viewer_turn": 1, "depth_pass": 1}, 7)], out)
    return out / "tiny"


@pytest.fixture
def tiny_benchmark_copy(tiny_benchmark, tmp_path) -> Path:
    """A private copy of ``tiny_benchmark`` (both datasets) for a test that modifies it."""
    for folder in (tiny_benchmark, tiny_benchmark.parent / "tiny-sweeps"):
        shutil.copytree(folder, tmp_path / folder.name)
    return tmp_path / tiny_benchmark.name


@pytest.fixture(scope="session")
def tiny_rendered(tmp_path_factory) -> Path:
    """The tiny benchmark rendered with Blender (preview preset, 64 px): a binary dataset
    ``vis-tiny`` (train 16, val 8, test 8, ood 8; human set 4) and a sweep dataset
    ``vis-sweeps`` beside it (one occluder-slide sweep of 5 steps); returns the binary
    dataset's folder. Shared by the whole session: read it only (copy it to modify it)."""
    pytest.importorskip("bpy", reason="rendering needs the render extra: pip install -e '.[render]'")
    from vpt.datasets.render_stage import RenderOptions, make_renderer

    out = tmp_path_factory.mktemp("tiny-rendered")
    args = RenderOptions(preset="preview", workers=1, device="cpu", recycle_every=100, depth=False, quiet=True)
    renderer, key, bpy_version = make_renderer(args)
    build_tiny([tiny_binary("vis-tiny", {"train": 16, "val": 8, "test": 8, "ood": 8}, 4, 0),
                tiny_sweeps("vis-sweeps", {"occluder_slide": 1}, 5)], out,
               renderer=renderer, render_key=key, bpy_version=bpy_version)
    return out / "vis-tiny"


def _with_conflict_beside(folders: list[Path], out: Path, name: str, **render) -> None:
    """Copy ``folders`` into ``out`` and build the tiny conflict set ``name`` beside them."""
    for folder in folders:
        shutil.copytree(folder, out / folder.name)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VPT_PLAN_WORKERS", "1")
        build_tiny([tiny_conflict(name)], out, **render)


@pytest.fixture(scope="session")
def tiny_conflict_beside(tiny_benchmark, tmp_path_factory) -> Path:
    """A copy of the tiny benchmark (``tiny`` and ``tiny-sweeps``) with a planned conflict set
    ``tiny-conflict`` of four look-alike pairs beside it (:func:`tiny_conflict`); returns the
    binary dataset's folder. Read it only."""
    out = tmp_path_factory.mktemp("tiny-conflict")
    _with_conflict_beside([tiny_benchmark, tiny_benchmark.parent / "tiny-sweeps"], out, "tiny-conflict")
    return out / tiny_benchmark.name


@pytest.fixture(scope="session")
def tiny_rendered_conflict(tiny_rendered, tmp_path_factory) -> Path:
    """A copy of the rendered ``vis-tiny`` with a conflict set ``vis-conflict`` of four pairs
    rendered beside it as ``tiny_rendered`` is (preview preset, 64 px); returns ``vis-tiny``'s
    folder. Read it only."""
    from vpt.datasets.render_stage import RenderOptions, make_renderer

    out = tmp_path_factory.mktemp("tiny-rendered-conflict")
    args = RenderOptions(preset="preview", workers=1, device="cpu", recycle_every=100, depth=False, quiet=True)
    renderer, key, bpy_version = make_renderer(args)
    _with_conflict_beside([tiny_rendered], out, "vis-conflict", renderer=renderer, render_key=key,
                          bpy_version=bpy_version)
    return out / tiny_rendered.name
