"""A tiny real render (64x64, preview preset) and one job through the worker process."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

pytest.importorskip("bpy", reason="needs the render extra (Blender as a Python module): pip install -e '.[render]'")
pytestmark = pytest.mark.render

from vpt.render.examples import analytic_visible_fraction, example_spec  # noqa: E402
from vpt.render.executor import render_jobs  # noqa: E402
from vpt.render.materials import color_name  # noqa: E402
from vpt.render.output import render  # noqa: E402
from vpt.fileio import read_png  # noqa: E402
from vpt.scene.spec import to_dict  # noqa: E402


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("render")
    spec = example_spec("plain", size=64)
    res = render(spec, out / "scene", preset="preview", depth=True)
    return spec, out, res


def test_files_written_atomically(rendered):
    spec, out, res = rendered
    assert sorted(p.name for p in out.iterdir()) == ["scene.png", "scene_depth.npy", "scene_mask.png"]
    for key in ("image", "mask", "depth"):
        f = res["files"][key]
        assert hashlib.sha256(open(f["path"], "rb").read()).hexdigest() == f["sha256"]
    img = read_png(out / "scene.png")
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8


def test_mask_has_ball_and_viewer(rendered):
    spec, out, res = rendered
    mask = read_png(out / "scene_mask.png")
    assert mask.shape == (64, 64) and mask.dtype == np.uint8
    assert set(np.unique(mask)) <= {0, 1, 2}
    assert (mask == 1).sum() > 5 and (mask == 2).sum() > 5
    assert res["observer"]["ball_px"] == (mask == 1).sum()
    # the ball's mask sits where the spec's pinhole model projects it (pixel centres at +0.5)
    ys, xs = np.nonzero(mask == 1)
    uv, _ = spec.observer.project(np.array([spec.ball.position]))
    assert abs(xs.mean() + 0.5 - uv[0, 0]) < 0.5 and abs(ys.mean() + 0.5 - uv[0, 1]) < 0.5


def test_colours_are_named_red_and_green(rendered):
    spec, out, res = rendered
    img = read_png(out / "scene.png") / 255.0
    mask = read_png(out / "scene_mask.png")
    assert color_name(tuple(np.median(img[mask == 1], axis=0))) == "red"
    assert color_name(tuple(np.median(img[mask == 2], axis=0))) == "green"


def test_depth_is_observer_z(rendered):
    spec, out, res = rendered
    depth = np.load(out / "scene_depth.npy")
    assert depth.dtype == np.float32 and depth.shape == (64, 64)
    ob = spec.observer
    k_inv = np.linalg.inv(ob.intrinsics())
    rot = ob.world_to_cv()[:3, :3]
    cam = np.asarray(ob.position)
    v, u = 63, 0  # bottom-left pixel sees the floor
    ray = rot.T @ (k_inv @ np.array([u + 0.5, v + 0.5, 1.0]))
    hit = cam + ray * (-cam[2] / ray[2])
    assert depth[v, u] == pytest.approx((rot @ (hit - cam))[2], rel=1e-3)


def test_settings_and_timings(rendered):
    _, _, res = rendered
    assert res["settings"]["preset"] == "preview" and res["settings"]["resolution"] == [64, 64]
    assert set(res["timings"]) == {"build", "raycast", "render", "write", "render_cpu"}
    assert res["timings"]["render_cpu"] > 0  # CPU seconds of all threads in the render call
    assert res["raycast"]["visible_fraction"] == pytest.approx(1.0)


def test_executor_runs_jobs_in_a_worker(tmp_path):
    jobs = []
    for case in ("plain", "wall"):
        spec = example_spec(case, size=48)
        jobs.append({"scene_id": spec.scene_id, "spec": to_dict(spec), "out_stem": str(tmp_path / case),
                     "analytic_fraction": analytic_visible_fraction(spec), "depth": False})
    jobs[1]["analytic_fraction"] = 0.9  # a deliberate disagreement must be caught
    seen = []
    results = {r["scene_id"]: r for r in render_jobs(jobs, "preview", workers=1, recycle_every=1, progress=seen.append)}
    assert len(seen) == 2
    ok, bad = results[jobs[0]["scene_id"]], results[jobs[1]["scene_id"]]
    assert ok["ok"] and ok["reason"] is None and (tmp_path / "plain.png").exists()
    assert not bad["ok"] and "differs from the analytic" in bad["reason"]
    assert ok["pid"] != bad["pid"]  # recycled after every scene
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
