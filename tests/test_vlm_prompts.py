"""Prompt templates, instructions, images as sent, the cache and the price table."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image as PILImage

from vpt.deciders.vlm import cost
from vpt.deciders.vlm.cache import ResponseCache, fingerprint
from vpt.deciders.vlm.images import ImageCache, encode
from vpt.deciders.vlm.prompts import PROMPTS_DIR, answer_schema, build_conversation, load_templates
from vpt.errors import UserError


def test_instructions_are_plain_markdown_for_people():
    for task in ("vpt", "depth"):
        text = (PROMPTS_DIR / "instructions" / f"{task}.md").read_text()
        assert text.startswith("# ") and "{" not in text and "}" not in text and "<" not in text
        assert len(text.split()) > 80


def test_templates_validate_and_build_every_style_and_form(tmp_path):
    t = load_templates("v1")
    img = object()
    for task in ("vpt", "depth"):
        for form in ("yes_no", "two_option"):
            for style in ("plain", "rule", "cot"):
                q = t.question(task, form)
                conv = build_conversation(t, style, q, img, [], json_output=False)
                text = conv.turns[-1].parts[-1]
                assert conv.system == t.instructions[task] and q.render() in text
                assert ("Final answer: X" in text) == (style == "cot")
                assert (style == "rule") == ("The rule:" in text)
    sw = t.question("vpt", "two_option", swap=True)
    assert sw.options[0].endswith("cannot see the red ball.") and sw.a_means == 0 and sw.label_of("A") == 0
    assert t.question("depth", "yes_no").label_of("yes") == 1  # yes = the ball is closer = depth label 1
    assert answer_schema(sw, cot=True)["required"] == ["reasoning", "answer"]
    broken = yaml.safe_load((PROMPTS_DIR / "v1.yaml").read_text())
    del broken["questions"]["depth"]["options"]
    (tmp_path / "instructions").mkdir()
    for f in ("vpt.md", "depth.md"):
        (tmp_path / "instructions" / f).write_text("x")
    (tmp_path / "v1.yaml").write_text(yaml.safe_dump(broken))
    with pytest.raises(UserError, match="questions.depth.options"):
        load_templates("v1", tmp_path)
    with pytest.raises(UserError, match="no such prompt version"):
        load_templates("v9")


def test_images_are_lossless_png_at_the_pinned_size_with_controls(tmp_path):
    src = tmp_path / "a.png"
    arr = np.zeros((60, 80, 3), np.uint8)
    arr[:, :40] = (255, 0, 0)
    PILImage.fromarray(arr).save(src)
    plain, mirror, blank = (encode(src, 40, c) for c in ("none", "mirror", "blank"))
    for im in (plain, mirror, blank):
        assert im.png.startswith(b"\x89PNG") and (im.width, im.height) == (40, 30)
    p = np.asarray(PILImage.open(io.BytesIO(plain.png)))
    m = np.asarray(PILImage.open(io.BytesIO(mirror.png)))
    assert (m == p[:, ::-1]).all() and p[0, 0, 0] == 255 and m[0, 0, 0] == 0
    assert len(np.unique(np.asarray(PILImage.open(io.BytesIO(blank.png))).reshape(-1, 3), axis=0)) == 1
    same = encode(src, 80)
    assert (np.asarray(PILImage.open(io.BytesIO(same.png))) == arr).all()  # lossless at native size
    cache = ImageCache()
    assert cache.get(src, 40) is cache.get(src, 40) and cache.encoded == 1


def test_cache_keys_and_wal(tmp_path):
    a = fingerprint("openai", "m", {"x": 1}, {"t": 0})
    assert a == fingerprint("openai", "m", {"x": 1}, {"t": 0}) != fingerprint("openai", "m", {"x": 1}, {"t": 1})
    assert a != fingerprint("openai", "m2", {"x": 1}, {"t": 0}) != fingerprint("google", "m", {"x": 1}, {"t": 0})
    c = ResponseCache(tmp_path / "c.sqlite")
    assert c._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    c.put(a, "openai", "m", "refusal", "no", 1, 2, 3.0, "stop", "v", "now")
    got = ResponseCache(tmp_path / "c.sqlite").get(a)
    assert got.status == "refusal" and got.text == "no" and got.output_tokens == 2
    with pytest.raises(ValueError):
        c.put("k", "openai", "m", "timeout", None, None, None, None, None, None, "now")


def test_price_table_is_dated_and_validated(tmp_path):
    table = cost.load_prices(cost.PRICES_FILE)  # the shipped table (the tests run with a fixture, conftest.py)
    assert {"openai", "anthropic", "google"} <= set(table)
    for models in table.values():
        for p in models.values():
            assert p.as_of[:4].isdigit() and p.source.startswith("https://")
    assert cost.price_for("openai-compatible", "anything").usd(10**6, 10**6) == 0.0
    bad = tmp_path / "p.yaml"
    bad.write_text("currency: USD\nunit: per_million_tokens\nmodels:\n  openai:\n    m: {input: 1, output: 2, "
                   "source: https://x}\n")
    with pytest.raises(UserError, match="as_of"):
        cost.load_prices(bad)
    b = cost.Budget(1.0)
    assert b.reserve(0.6) and not b.reserve(0.6) and b.stopped


def test_registering_vpt_vlm_imports_no_sdk_nor_pandas():
    code = ("import argparse, sys; import vpt.deciders.vlm.cli as c; p = argparse.ArgumentParser(); "
            "c.add_parser(p.add_subparsers()); "
            "bad = [m for m in ('openai', 'anthropic', 'google.genai', 'pandas', 'pyarrow', 'httpx2') if m in sys.modules];"
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_benchmark_runs_the_whole_harness_and_encodes_each_image_once():
    pytest.importorskip("httpx2", reason="needs the vlm extra: pip install -e '.[vlm]'")
    from benchmarks.vlm_speed import bench_harness

    r = bench_harness(calls=80, concurrency=4)
    assert r["calls"] == 80 and r["calls_per_s"] > 0
    assert r["images_encoded"] <= 80 // 2 + 8  # 20 pictures x (plain, mirrored) + exemplars, not one per call
    assert r["cached_rerun_s"] < r["run_s"]


def test_rate_limiter_waits_for_the_window(monkeypatch):
    from vpt.deciders.vlm import harness

    waits: list[float] = []
    clock = {"t": 0.0}
    monkeypatch.setattr(harness.time, "monotonic", lambda: clock["t"])

    def sleep(s: float) -> None:
        waits.append(s)
        clock["t"] += s

    monkeypatch.setattr(harness, "SLEEP", sleep)
    lim = harness.RateLimiter(rpm=2, tpm=None)
    lim.acquire(10), lim.acquire(10)
    assert not waits
    lim.acquire(10)
    assert len(waits) == 1 and 59 < waits[0] <= 60.1
    tok = harness.RateLimiter(rpm=None, tpm=100)
    tok.acquire(80)
    tok.acquire(80)  # would pass 100 tokens in the minute: waits
    assert len(waits) == 2


def test_evicted_image_bytes_are_re_encoded_identically_and_a_changed_file_is_caught(tmp_path, monkeypatch):
    from vpt.deciders.vlm import images

    monkeypatch.setattr(images, "BYTES_BUDGET", 1)  # keep one PNG at a time
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    PILImage.new("RGB", (30, 20), (1, 2, 3)).save(a)
    PILImage.new("RGB", (30, 20), (4, 5, 6)).save(b)
    ia, ib = encode(a, 30), encode(b, 30)
    n = images.ENCODINGS[0]
    assert ia.png[:8] == b"\x89PNG\r\n\x1a\n" and images.ENCODINGS[0] == n + 1  # a was evicted by b
    assert ib.png and images.ENCODINGS[0] == n + 2
    PILImage.new("RGB", (30, 20), (9, 9, 9)).save(a)
    with pytest.raises(UserError, match="changed on disk"):
        ia.png
