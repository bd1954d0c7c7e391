"""Shared test helpers: small recipes derived from the defaults."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from vpt.resources import recipes_dir

ROOT = Path(__file__).resolve().parents[1]
RECIPES = recipes_dir()  # the default recipes (scenes/ in a checkout, vpt/_data/scenes in a wheel)


def recipe_dict(name: str) -> dict:
    return yaml.safe_load((RECIPES / f"{name}.yaml").read_text())


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
