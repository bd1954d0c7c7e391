"""The dataset card's datasheet sections follow the recipe and the index they describe (nothing
typed by hand), and the audit says what its verdict can show at its sample size."""

from __future__ import annotations

import copy

import pandas as pd
import pytest

from tests.conftest import recipe_dict
from vpt.datasets import datasheet as D
from vpt.datasets.audit import VPT_SINGLE_CUE_LIMIT, AuditResult


def _hidden(overlap_no_occluded: int) -> pd.DataFrame:
    rows = ([{"vpt_label": 0, "hidden_reason": "out_of_view", "occluder_overlaps_segment": 0}] * 6
            + [{"vpt_label": 0, "hidden_reason": "occluded", "occluder_overlaps_segment": 0}] * overlap_no_occluded
            + [{"vpt_label": 0, "hidden_reason": "occluded", "occluder_overlaps_segment": 1}] * 6
            + [{"vpt_label": 0, "hidden_reason": "out_of_view", "occluder_overlaps_segment": 1}] * 2
            + [{"vpt_label": 1, "hidden_reason": None, "occluder_overlaps_segment": 0}] * 5)
    return pd.DataFrame(rows)


def test_the_label_definition_is_the_recipes():
    cfg = copy.deepcopy(recipe_dict("depth-vpt"))
    text = D.label_definition_md(cfg)
    v, lab = cfg["viewer"], cfg["labels"]
    assert f"{v['hfov_deg']:g} degrees wide and {v['vfov_deg']:g} degrees high" in text
    assert f"shrunk by {lab['fov_margin_deg']:g} degrees" in text and f"{lab['ball_margin']:.0%}" in text
    cfg["viewer"].update(hfov_deg=90, vfov_deg=50)
    cfg["labels"]["fov_margin_deg"] = 3
    text = D.label_definition_md(cfg)
    assert "90 degrees wide and 50 degrees high" in text and "shrunk by 3 degrees" in text
    cfg["viewer"].update(hfov_deg=[60, 80])  # a range, drawn per scene
    assert "60 to 80 degrees (drawn per scene) wide" in D.label_definition_md(cfg)


def test_hidden_reason_against_the_cells_is_read_from_the_index():
    md = D.hidden_by_overlap_md(_hidden(0))
    assert "| no | 0 | 6 |" in md and "| yes | 6 | 2 |" in md
    assert "every hidden item is out of view" in md and "25% of the hidden items are out of view" in md
    md = D.hidden_by_overlap_md(_hidden(3))  # occluded items without overlap: the claim would be false
    assert "| no | 3 | 6 |" in md and "every hidden item is out of view" not in md
    assert D.hidden_by_overlap_md(_hidden(0)[lambda d: d["vpt_label"] == 1]) == ""


def test_sizes_per_split_in_pixels():
    df = pd.DataFrame({"split": ["test"] * 3 + ["train"], "ball_radius_px": [5.0, 7.0, 9.0, 6.0],
                       "viewer_radius_px": [10.0, 12.0, 14.0, 11.0]})
    md = D.sizes_md(df, [256, 256])
    assert "at 256x256" in md and "| test | ball | 3 | 5.0 | 5.4 | 7.0 | 8.6 | 9.0 |" in md
    assert "| train | viewer | 1 | 11.0 |" in md


def test_the_ood_note_names_ball_like_occluders_only_when_there_are_some():
    cfg = copy.deepcopy(recipe_dict("depth-vpt"))
    cfg["ood"]["occluder_shapes"] = ["drum", "boulder"]
    md = D.ood_md(cfg)
    assert "Boulder occluders are spheres, like the ball" in md and "drum, boulder" in md
    cfg["ood"]["occluder_shapes"] = ["drum"]
    md = D.ood_md(cfg)
    assert "spheres" not in md and "by drum" in md


@pytest.mark.parametrize("null, where", [(0.61, "below"), (0.55, "above"), (0.605, "at")])
def test_the_audit_says_what_a_pass_can_show(null, where):
    res = AuditResult(source="images", single=pd.DataFrame(index=[f"c{i}" for i in range(40)]),
                      combined=pd.DataFrame(), combined_depth=pd.DataFrame(), null_max={"vpt_label": null},
                      n_items=512, n_train=256, n_test=128, folds=5, permutations=20)
    text = res.pass_meaning()
    assert "With 128 test items" in text and "±8.7%" in text  # 1.96 * sqrt(0.25 / 128)
    assert f"sits {where} the shuffled-label maximum ({null:.1%})" in text
    assert f"({VPT_SINGLE_CUE_LIMIT:.0%})" in text and "best of 40 cues" in text
