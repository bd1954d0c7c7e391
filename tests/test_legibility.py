"""Viewer legibility: crops located by the mask, classes from the scene JSON, a seeded classifier."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vpt.datasets.legibility import (CLASSES, HUMAN_ROW, body_bbox, crop_viewer, facing_class, load_crops,
                                     measure_legibility, write_legibility)

OBSERVER = (0.0, -5.0, 3.0)


def _scene(sid: str, split: str, cls: str, model: str = "camera") -> dict:
    side, way = cls.split("-")
    fwd = [0.8 if side == "right" else -0.8, -0.6 if way == "toward" else 0.6, -0.05]
    return {"scene_id": sid, "split": split,
            "spec": {"viewer": {"model": model, "position": [0.0, 0.0, 0.5]}, "observer": {"position": list(OBSERVER)}},
            "cameras": {"viewer": {"forward": fwd}}, "counterbalancing": {"viewer_facing": side},
            "files": {"image": {"path": f"images/{split}/{sid}.png"}, "mask": {"path": f"images/{split}/{sid}_mask.png"}}}


def _draw(rng: np.random.Generator, cls: str) -> tuple[np.ndarray, np.ndarray]:
    """A grey noisy image with a green body; a white lens at the end it faces, drawn low
    (toward the observer) or high (away); a green decoy that the mask does not mark."""
    img = rng.integers(100, 140, (64, 64, 3)).astype(np.uint8)
    mask = np.zeros((64, 64), np.uint8)
    w, h = int(rng.integers(14, 20)), int(rng.integers(9, 13))
    x0, y0 = int(rng.integers(4, 64 - w - 10)), int(rng.integers(6, 64 - h - 6))
    img[y0:y0 + h, x0:x0 + w] = (30, 170, 60)
    mask[y0:y0 + h, x0:x0 + w] = 2
    side, way = cls.split("-")
    lx = x0 + w if side == "right" else x0 - 4
    ly = y0 + h - 5 if way == "toward" else y0
    img[ly:ly + 5, lx:lx + 4] = (245, 245, 240)
    mask[ly:ly + 5, lx:lx + 4] = 2
    img[1:5, 1:5] = (30, 170, 60)  # decoy: green, not in the mask
    return img, mask


@pytest.fixture
def fake_dataset(tmp_path: Path) -> Path:
    rng = np.random.default_rng(7)
    root = tmp_path / "fake"
    for split, n in (("train", 48), ("val", 16), ("test", 32)):
        (root / "images" / split).mkdir(parents=True)
        (root / "scenes" / split).mkdir(parents=True)
        for i in range(n):
            cls = CLASSES[i % 4]
            sid = f"fake-{split}-{i:04d}"
            img, mask = _draw(rng, cls)
            Image.fromarray(img).save(root / "images" / split / f"{sid}.png")
            Image.fromarray(mask).save(root / "images" / split / f"{sid}_mask.png")
            scene = _scene(sid, split, cls)
            if split == "test" and i < 16:  # the human set, also rendered for people at twice the size
                (root / "images" / "human").mkdir(exist_ok=True)
                big = lambda a: np.repeat(np.repeat(a, 2, axis=0), 2, axis=1)  # noqa: E731
                Image.fromarray(big(img)).save(root / "images" / "human" / f"{sid}.png")
                Image.fromarray(big(mask)).save(root / "images" / "human" / f"{sid}_mask.png")
                scene["files"].update(human_image={"path": f"images/human/{sid}.png"},
                                      human_mask={"path": f"images/human/{sid}_mask.png"})
            (root / "scenes" / split / f"{sid}.json").write_text(json.dumps(scene))
    return root


def test_facing_class_from_scene_json():
    for cls in CLASSES:
        got, turn = facing_class(_scene("x", "test", cls))
        assert got == cls
        assert (turn > 0) == cls.endswith("toward")
    side_on = _scene("x", "test", "left-toward")
    side_on["cameras"]["viewer"]["forward"] = [-1.0, 0.0, 0.0]  # perpendicular to the line to the observer
    assert facing_class(side_on)[1] == pytest.approx(0.0, abs=1e-9)


def test_crop_is_located_by_the_mask_only():
    img = np.zeros((40, 40, 3), np.uint8)
    img[:, :] = (0, 200, 0)  # everything green: only the mask says where the viewer is
    img[20:30, 5:15] = (255, 0, 255)
    mask = np.zeros((40, 40), np.uint8)
    mask[20:30, 5:15] = 2
    mask[0:3, 0:3] = 1  # the ball is not the viewer
    assert body_bbox(mask) == (5, 20, 15, 30)
    crop = crop_viewer(img, mask, size=20, pad=0.0)
    assert crop.shape == (20, 20, 3)
    assert (crop[..., 1] < 50).mean() > 0.9  # the magenta square fills the unpadded crop
    edge = crop_viewer(img, np.pad(np.full((5, 5), 2, np.uint8), ((0, 35), (0, 35))), size=16)  # at the corner
    assert edge.shape == (16, 16, 3)
    assert crop_viewer(img, np.zeros((40, 40), np.uint8)) is None


def test_the_crop_leaves_the_stand_out():
    mask = np.zeros((60, 40), np.uint8)
    mask[10:20, 8:22] = 2  # the body: 14 px wide
    mask[20:55, 14:16] = 2  # the pole below it: 2 px wide, taller than the body
    assert body_bbox(mask) == (8, 10, 22, 20)
    mask[55:58, 10:20] = 2  # a tripod's foot, wider than a third of the body, below the pole
    assert body_bbox(mask) == (8, 10, 22, 20)  # the body is the first run of wide rows from the top
    assert body_bbox(np.zeros((8, 8), np.uint8)) is None


def test_legibility_learns_a_readable_viewer_and_writes_its_report(fake_dataset):
    rows, crops = load_crops(fake_dataset)
    assert len(rows) == 96 and crops.shape == (96, 3, 48, 48, 4)
    res, wrong = measure_legibility(fake_dataset, data=(rows, crops))
    acc = res.accuracy("camera", "test")
    assert acc is not None and acc >= 0.9
    s = res.models["camera"]["splits"]["test"]
    assert sum(s["class_n"].values()) == 32 and set(s["per_class"]) == set(CLASSES)
    assert len(wrong) == len(res.errors) == round((1 - acc) * 32)
    again, _ = measure_legibility(fake_dataset, data=(rows, crops))
    assert again.to_dict() == res.to_dict()  # seeded: the same numbers every run
    md = res.to_markdown()
    assert "| camera | test | 32 |" in md and "chance is 25 %" in md
    write_legibility(res, wrong, fake_dataset)
    data = json.loads((fake_dataset / "legibility.json").read_text())
    assert data["models"]["camera"]["splits"]["test"]["accuracy"] == acc
    assert Image.open(fake_dataset / "legibility_errors.png").size[0] > 0
    assert (fake_dataset / "legibility.md").read_text().startswith("# Viewer legibility")
    # the dataset card gets the section, replaced (not repeated) on a second run
    from vpt.datasets.legibility import CARD_SECTION, current_report

    card = fake_dataset / "card.md"
    card.write_text("# card\n\n## Rendering\n\nstuff\n\n## Label definitions\n\nlabels\n")
    write_legibility(res, wrong, fake_dataset)
    write_legibility(res, wrong, fake_dataset)
    text = card.read_text()
    assert text.count(CARD_SECTION) == 1 and "| camera | test | 32 |" in text
    assert text.index("## Rendering") < text.index(CARD_SECTION) < text.index("## Label definitions")
    assert "| camera | test | 32 |" in current_report(fake_dataset)
    img = fake_dataset / "images" / "test" / "fake-test-0000.png"
    scene = fake_dataset / "scenes" / "test" / "fake-test-0000.json"
    d = json.loads(scene.read_text())
    d["files"]["image"]["sha256"] = "0" * 64  # the images changed since: the report is stale
    scene.write_text(json.dumps(d))
    assert img.exists() and current_report(fake_dataset) is None


@pytest.mark.slow
def test_labels_that_do_not_follow_the_image_stay_near_chance(fake_dataset):
    rows, crops = load_crops(fake_dataset)
    shuffled = rows.copy()
    shuffled["cls"] = np.random.default_rng(3).permutation(rows["cls"].to_numpy())
    res, _ = measure_legibility(fake_dataset, data=(shuffled, crops))
    assert res.accuracy("camera", "test") < 0.6


def test_cli_legibility(fake_dataset, capsys):
    from vpt.cli import main

    assert main(["legibility", str(fake_dataset)]) == 0
    out = capsys.readouterr().out
    assert "legibility.md" in out and "| camera | test |" in out
    assert (fake_dataset / "legibility_errors.png").exists()


def test_cli_legibility_without_renders_is_a_user_error(tmp_path, capsys):
    from vpt.cli import main

    assert main(["legibility", str(tmp_path)]) == 2
    assert "render a dataset first" in capsys.readouterr().err


def _index(root: Path) -> "pd.DataFrame":
    import pandas as pd

    rows = []
    for p in sorted((root / "scenes").glob("*/*.json")):
        s = json.loads(p.read_text())
        k = int(s["scene_id"].rsplit("-", 1)[-1])
        sweep = s["split"] == "val" and k < 7  # a few val stimuli play a sweep
        rows.append({"scene_id": s["scene_id"], "split": s["split"], "image": s["files"]["image"]["path"],
                     "mask": s["files"]["mask"]["path"], "cell": f"ball-left/facing-{s['counterbalancing']['viewer_facing']}"
                     "/overlap-no", "vpt_label": k % 2, "depth_label": (k // 2) % 2,
                     "hidden_reason": "" if k % 2 else "occluded", "sweep_id": "turn-0" if sweep else "",
                     "sweep_kind": "viewer_turn" if sweep else "", "sweep_step": k if sweep else -1,
                     "sweep_step_label": "visible" if sweep else ""})
    return pd.DataFrame(rows)


def test_contact_sheets_per_split_and_sweep_with_zoomed_viewer(fake_dataset):
    from vpt.datasets.sheet import IMG_PX, SHEETS_DIR, ZOOM_PX, contact_sheet, labelled_tile, render_markdown

    df = _index(fake_dataset)
    out = contact_sheet(fake_dataset, df)
    assert out == fake_dataset / "contact_sheet.png" and out.exists()
    names = sorted(p.name for p in (fake_dataset / SHEETS_DIR).glob("*.png"))
    assert names == ["split-test.png", "split-train.png", "split-val.png", "sweep-turn-0.png"]
    sweep = Image.open(fake_dataset / SHEETS_DIR / "sweep-turn-0.png")
    assert sweep.size[0] >= 6 * (IMG_PX + ZOOM_PX)  # six steps in the first row
    # the zoomed crop beside the image is the viewer, found by the mask: mostly green and white
    r = next(df[df["split"] == "test"].itertuples())
    tile = np.asarray(labelled_tile(fake_dataset, r))
    zoom = tile[:ZOOM_PX, IMG_PX + 2:IMG_PX + 2 + ZOOM_PX].astype(int)
    whole = tile[:IMG_PX, :IMG_PX].astype(int)

    def viewer_share(a):
        return ((a[..., 1] > a[..., 0] + 60) | (a.min(axis=-1) > 220)).mean()

    assert viewer_share(zoom) > 0.12 and viewer_share(zoom) > 3 * viewer_share(whole)
    caption = tile[IMG_PX:, :IMG_PX]
    assert (caption.min(axis=-1) < 100).any()  # the labels are written under the image
    md = render_markdown({"images": 1, "seconds_per_image": 1.0, "render_call_seconds_per_image": 1.0,
                          "images_per_hour": 3600.0, "share_outside_render_call": 0.0, "peak_worker_rss_mb": 1.0,
                          "settings": {}}, out)
    assert f"({SHEETS_DIR}/split-test.png)" in md and f"({SHEETS_DIR}/sweep-turn-0.png)" in md
    assert "## Viewer legibility" in md and "run `vpt legibility" in md  # not measured yet
    # a split that disappears from the index loses its sheet
    contact_sheet(fake_dataset, df[df["split"] != "val"])
    assert not (fake_dataset / SHEETS_DIR / "split-val.png").exists()


def test_sheet_captions_name_partial_and_ambiguous_sweep_steps():
    """Sweep steps carry no binary label where the ball is partly visible or the depth gap is
    too small; their captions say so instead of failing on a missing value."""
    import pandas as pd

    from vpt.datasets.sheet import _labels

    df = pd.DataFrame({"vpt_label": [None, 0], "depth_label": [None, 1], "hidden_reason": ["", "occluded"],
                       "scene_id": ["s-step03", "s-step04"], "sweep_id": ["turn-000", "turn-000"],
                       "sweep_step": [3, 4], "sweep_step_label": ["partial", "0"], "cell": ["", ""]})
    for col in ("vpt_label", "depth_label"):
        df[col] = df[col].astype("Int64")
    rows = list(df.itertuples())
    assert _labels(rows[0])[:2] == ["vpt=partial", "depth=ambiguous"]
    assert _labels(rows[1])[:2] == ["vpt=0 (occluded)", "depth=1 (ball nearer)"]


def test_the_human_set_is_measured_as_people_see_it(fake_dataset, tmp_path):
    rows, crops = load_crops(fake_dataset)
    human = load_crops(fake_dataset, human=True)
    assert len(human[0]) == 16 and set(human[0]["split"]) == {"test"} and human[1].shape == (16, 3, 48, 48, 4)
    assert human[0]["image"].str.startswith("images/human/").all()
    res, _ = measure_legibility(fake_dataset, data=(rows, crops), human=human)
    row = res.models["camera"]["splits"][HUMAN_ROW]
    assert row["n"] == 16 and row["accuracy"] >= 0.85  # the same drawing at twice the size reads as well
    assert f"| camera | {HUMAN_ROW} | 16 |" in res.to_markdown()
    scrambled = human[0].assign(cls=human[0]["cls"].map({c: CLASSES[(CLASSES.index(c) + 1) % 4] for c in CLASSES}))
    worse, _ = measure_legibility(fake_dataset, data=(rows, crops), human=(scrambled, human[1]))
    assert worse.models["camera"]["splits"][HUMAN_ROW]["accuracy"] <= 0.15  # the row reads the labels it is given
    empty = load_crops(fake_dataset, human=True)[0].iloc[0:0]
    without, _ = measure_legibility(fake_dataset, data=(rows, crops), human=(empty, human[1][:0]))
    assert HUMAN_ROW not in without.models["camera"]["splits"]
