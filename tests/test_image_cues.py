"""Image cues from masks, and the analytic mask against Blender's rendered one."""

import copy
import json

import numpy as np
import pytest
import yaml

from vpt.datasets.cues import image_cues
from vpt.scene.raster import analytic_mask
from vpt.scene.spec import scene_from_dict
from tests.conftest import recipe_dict


def test_segment_coverage_and_positions_on_a_drawn_mask():
    m = np.zeros((64, 64), np.uint8)
    m[30:34, 8:12] = 2  # viewer: centre (10, 32)
    m[30:34, 50:54] = 1  # ball: centre (52, 32)
    m[20:40, 26:33] = 11  # an occluder 7 px wide across the segment
    c = image_cues(m, None, (12.0, 32.0))
    assert (c["ball_x"], c["ball_y"], c["viewer_x"], c["viewer_y"]) == (52.0, 32.0, 10.0, 32.0)
    free = (50 - 12) + 1  # sample columns between the viewer's and the ball's pixels
    assert c["cover_body_1"] == pytest.approx(7 / free, abs=0.03)
    assert c["cover_body_11"] == pytest.approx(c["cover_body_1"], abs=0.03)  # the occluder spans the band
    assert c["segment_gap"] < 1.0 and c["n_occluders_visible"] == 1
    assert c["facing_ball_cos"] == pytest.approx(1.0)  # the lens points at the ball
    m2 = m.copy()
    m2[20:40, 26:33] = 0
    c2 = image_cues(m2, None, (8.0, 32.0))  # no occluder, the lens points away
    assert c2["cover_body_1"] == 0.0 and c2["facing_ball_cos"] == pytest.approx(-1.0)
    rgb = np.full((64, 64, 3), 200, np.uint8)
    rgb[m == 1] = (200, 20, 20)
    c3 = image_cues(m, rgb, None)
    assert c3["ball_brightness"] == pytest.approx((200 + 40) / 3 / 255, abs=1e-6)
    assert c3["thumbnail"].shape == (64,)


def test_label_coverage_is_what_the_analytic_image_shows():
    """The sampler's segment coverage (64 rays) against the analytic mask's pixel coverage."""
    from vpt.datasets.build import plan_recipe
    from vpt.datasets.recipe import parse_recipe

    d = copy.deepcopy(recipe_dict("depth-vpt"))
    d["balance"]["pool"] = 2  # matched selection on a small pool (fast)
    d.update(splits={"train": 24, "val": 0, "test": 0, "ood": 0}, human_set=0, warmup=0)
    plan = plan_recipe(parse_recipe(d, "test"), progress=False)
    diffs = []
    for it in plan.items:
        c = image_cues(analytic_mask(it.spec), None, tuple(it.labels.image.viewer_eye_px))
        diffs.append(abs(c["cover_body_1"] - it.labels.segment_coverage))
        assert (c["cover_body_1"] > 0.02) <= it.labels.occluder_overlaps_segment
    assert np.mean(diffs) < 0.03 and np.max(diffs) < 0.15


@pytest.fixture(scope="module")
def rendered_small(tmp_path_factory):
    pytest.importorskip("bpy", reason="the render comparison needs the render extra: pip install -e '.[render]'")
    from vpt.cli import main

    d = copy.deepcopy(recipe_dict("depth-vpt"))
    d["balance"]["pool"] = 2  # matched selection on a small pool (fast)
    d.update(name="cues", resolution=[128, 128], splits={"train": 8, "val": 0, "test": 0, "ood": 0}, human_set=0,
             warmup=0, human_resolution=0)
    d["labels"]["min_ball_px"], d["labels"]["min_viewer_px"] = 2.5, 4.5
    tmp = tmp_path_factory.mktemp("cues")
    (tmp / "cues.yaml").write_text(yaml.safe_dump(d))
    assert main(["scenes", str(tmp / "cues.yaml"), "--out", str(tmp / "data"), "--preset", "preview", "--quiet"]) == 0
    return tmp / "data" / "cues"


@pytest.mark.render
def test_plan_time_cues_agree_with_the_rendered_ones(rendered_small):
    from PIL import Image

    root = rendered_small
    rows = []
    for path in sorted((root / "scenes").rglob("*.json")):
        rec = json.loads(path.read_text())
        spec = scene_from_dict(rec["spec"])
        rendered = np.asarray(Image.open(root / rec["files"]["mask"]["path"]))
        analytic = analytic_mask(spec)
        eye = tuple(rec["image"]["viewer_eye_px"])
        a, r = image_cues(analytic, None, eye), image_cues(rendered, None, eye)
        iou = lambda k: ((analytic == k) & (rendered == k)).sum() / max(1, ((analytic == k) | (rendered == k)).sum())  # noqa: E731
        rows.append((iou(1), a["ball_x"] - r["ball_x"], a["cover_body_1"] - r["cover_body_1"],
                     a["viewer_width"] / r["viewer_width"], a["viewer_x"] - r["viewer_x"]))
    rows = np.array(rows)
    assert len(rows) == 8
    assert rows[:, 0].min() > 0.85  # the ball is an exact sphere in both
    assert np.abs(rows[:, 1]).max() < 0.5
    assert np.abs(rows[:, 2]).mean() < 0.05  # occluders are exact solids in both
    assert np.all((rows[:, 3] > 0.6) & (rows[:, 3] < 1.4))  # the viewer stand-in is coarser
    assert np.abs(rows[:, 4]).max() < 4.0
