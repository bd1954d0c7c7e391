import numpy as np
import pandas as pd
import pytest

from vpt.datasets.audit import CUES, VPT_SINGLE_CUE_LIMIT, audit_frame
from vpt.datasets.build import plan_recipe
from vpt.datasets.recipe import load_recipe
from vpt.datasets.writer import index_row
from vpt.errors import UserError
from tests.conftest import ROOT


def _frame(n=400, leak=None, seed=0):
    g = np.random.default_rng(seed)  # test data only
    df = pd.DataFrame({c: g.normal(size=n) for c in CUES})
    df["occluder_overlaps_segment"] = g.integers(0, 2, n)
    df["n_occluders"] = g.integers(1, 4, n)
    df["viewer_facing_right"] = g.integers(0, 2, n)
    df["vpt_label"] = g.integers(0, 2, n)
    df["depth_label"] = g.integers(0, 2, n)
    if leak:
        df[leak] = df["vpt_label"] * 3.0 + g.normal(scale=0.3, size=n)
    return df


def test_audit_catches_a_planted_shortcut_and_passes_noise():
    clean = audit_frame(_frame())
    assert clean.passed() and clean.max_single("vpt_label") < 0.6
    leaky = audit_frame(_frame(leak="ball_x_px"))
    assert not leaky.passed()
    assert leaky.table.loc["ball_x_px", "vpt_label linear"] > 0.95
    # a non-monotonic cue: label 1 in the middle band only; the binned model sees it
    df = _frame()
    g = np.random.default_rng(1)
    middle = g.normal(scale=0.3, size=len(df))
    outer = np.sign(g.normal(size=len(df))) * (2.0 + g.normal(scale=0.3, size=len(df)))
    df["segment_length_px"] = np.where(df["vpt_label"] == 1, middle, outer)
    res = audit_frame(df)
    assert res.table.loc["segment_length_px", "vpt_label binned"] > 0.95
    assert res.table.loc["segment_length_px", "vpt_label linear"] < 0.7
    assert "FAIL" in res.to_markdown()


def test_audit_rejects_bad_tables():
    with pytest.raises(UserError, match="lacks the columns"):
        audit_frame(pd.DataFrame({"a": [1]}))
    with pytest.raises(UserError, match="too few"):
        audit_frame(_frame(n=10))


@pytest.mark.slow
def test_default_recipe_has_no_single_cue_shortcut_for_vpt():
    """The issue's criterion, on the default recipe at its default size."""
    recipe = load_recipe(ROOT / "scenes" / "depth-vpt.yaml")
    plan = plan_recipe(recipe, progress=False)
    rows = [index_row(it, {}, ROOT, ROOT / it.spec.scene_id) for it in plan.items]
    res = audit_frame(pd.DataFrame(rows))
    assert res.max_single("vpt_label") <= VPT_SINGLE_CUE_LIMIT, res.to_markdown()
