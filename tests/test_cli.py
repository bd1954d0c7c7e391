import json
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from vpt.cli import main
from tests.conftest import RECIPES, ROOT

SUBCOMMANDS = ["scenes", "audit", "check", "verify", "export"]


def test_help_works_without_blender_or_torch():
    code = ("import sys\n"
            "from vpt.cli import build_parser\n"
            "p = build_parser()\n"
            f"for c in [[]] + [[s] for s in {SUBCOMMANDS!r}]:\n"
            "    try:\n"
            "        p.parse_args(c + ['--help'])\n"
            "    except SystemExit as e:\n"
            "        assert e.code == 0, c\n"
            "bad = [m for m in ('bpy', 'torch', 'timm', 'transformers') if m in sys.modules]\n"
            "assert not bad, bad\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "scenes" in out.stdout and "audit" in out.stdout and "verify" in out.stdout


def test_console_script_help():
    exe = ROOT / ".venv" / "bin" / "vpt"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "vpt.cli"]
    out = subprocess.run(cmd + ["scenes", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--plan-only" in out.stdout


def test_user_errors_exit_2_with_a_message(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"name": "x", "viewer": {"hfov_deg": [90, 30]}}))
    assert main(["check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "viewer.hfov_deg" in err and "swap them" in err and "Traceback" not in err
    assert main(["scenes", str(tmp_path / "nope.yaml"), "--plan-only", "--out", str(tmp_path)]) == 2
    assert "no such recipe file" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["audit", str(tmp_path / "empty")]) == 2
    assert "not a dataset folder" in capsys.readouterr().err


def _tiny_recipe(tmp_path, train=16):
    d = yaml.safe_load((RECIPES / "depth-vpt.yaml").read_text())
    d["name"] = "tiny"
    d["splits"] = {"train": train, "val": 8, "test": 16, "ood": 8}
    d["human_set"], d["warmup"] = 8, 4
    d["balance"]["pool"] = 2  # matched selection still runs, on a small pool
    p = tmp_path / "tiny.yaml"
    p.write_text(yaml.safe_dump(d))
    return p, d


@pytest.mark.slow
def test_plan_only_writes_dataset_and_resumes(tmp_path, capsys):
    recipe, d = _tiny_recipe(tmp_path)
    out = tmp_path / "data"
    assert main(["scenes", str(recipe), "--plan-only", "--out", str(out), "--quiet"]) == 0
    root = out / "tiny"
    df = pd.read_parquet(root / "index.parquet")
    assert len(df) == 48 and len(pd.read_csv(root / "index.csv")) == 48
    for col in ("image", "scene_json", "split", "vpt_label", "depth_label", "cell", "sweep_id", "sweep_step",
                "human_set", "warmup", "hidden_reason"):
        assert col in df.columns
    assert (root / "audit.md").exists() and json.loads((root / "audit.json").read_text())["n_items"] == 48
    card = (root / "card.md").read_text()
    assert "Counts per cell" in card and "Shortcut audit" in card and "accepted of" in card
    one = json.loads((root / df["scene_json"].iloc[0]).read_text())
    for key in ("versions", "seeds", "spec_hash", "cameras", "labels", "visibility", "depths", "counterbalancing",
                "spec", "flags"):
        assert key in one
    assert one["labels"]["polarity"]["depth_label"].startswith("1 = the ball is closer")
    first_bytes = (root / df["scene_json"].iloc[0]).read_bytes()
    capsys.readouterr()
    # re-run: everything kept, byte-identical
    assert main(["scenes", str(recipe), "--plan-only", "--out", str(out), "--quiet"]) == 0
    assert "48 kept from an earlier run, 0 written" in capsys.readouterr().out
    assert (root / df["scene_json"].iloc[0]).read_bytes() == first_bytes
    # changing a label setting invalidates everything; shrinking a split removes stale files
    d["labels"]["min_observer_visible"] = 0.91
    d["splits"]["train"] = 8
    d["warmup"] = 4
    recipe.write_text(yaml.safe_dump(d))
    assert main(["scenes", str(recipe), "--plan-only", "--out", str(out), "--quiet"]) == 0
    msg = capsys.readouterr().out
    assert "0 kept" in msg and "stale files removed" in msg
    assert len(list((root / "scenes" / "train").glob("*.json"))) == 8


@pytest.mark.slow
def test_audit_command_on_a_dataset(tiny_benchmark_copy, capsys):
    root = tiny_benchmark_copy  # a planned dataset (planned without its audit); the audit writes into it
    assert not (root / "audit.json").exists()
    assert main(["audit", str(root)]) == 0
    text = capsys.readouterr().out
    assert "analytic projection" in text and "Largest single-cue accuracy" in text and "saved" in text
    assert (root / "audit.json").exists()
    assert main(["audit", str(root), "--seed", "3"]) == 2  # a rendered dataset is audited as it is
    assert "--seed re-plans a recipe" in capsys.readouterr().err


def test_missing_blender_gives_one_clear_message(tmp_path):
    fake = tmp_path / "fake" / "bpy"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('simulated: this bpy cannot load')\n")
    recipe, _ = _tiny_recipe(tmp_path)
    env = {**__import__("os").environ, "PYTHONPATH": str(tmp_path / "fake")}
    out = subprocess.run([sys.executable, "-m", "vpt.cli", "scenes", str(recipe), "--out", str(tmp_path / "d"),
                          "--quiet"], capture_output=True, text=True, env=env, cwd=ROOT)
    assert out.returncode == 2, out.stderr
    assert "pip install 'bpy==4.5.15'" in out.stderr and "simulated" in out.stderr
    assert "Traceback" not in out.stderr


def test_audit_takes_a_packaged_recipe_name_as_scenes_does(tmp_path, monkeypatch, capsys):
    """`vpt audit depth-vpt` plans the packaged recipe (it said "not a dataset folder")."""
    from vpt.datasets import build
    from vpt.errors import UserError

    monkeypatch.chdir(tmp_path)  # no file called depth-vpt here
    planned = []

    def plan(recipe, scale=None, progress=True):
        planned.append((recipe.name, scale))
        raise UserError("planning stopped by the test")

    monkeypatch.setattr(build, "plan_recipe", plan)
    assert main(["audit", "depth-vpt", "--scale", "paper"]) == 2
    assert planned == [("depth-vpt", "paper")]
    assert "planning stopped by the test" in capsys.readouterr().err
    assert main(["audit", "no-such-recipe"]) == 2
    assert "packaged recipe (conflict, depth-vpt, vpt-strategy)" in capsys.readouterr().err


def test_audit_seed_replans_another_draw_of_the_recipe(tmp_path, monkeypatch, capsys):
    """`vpt audit RECIPE --seed N` plans every recipe from seed N; a dataset folder refuses it."""
    from vpt.datasets import build
    from vpt.errors import UserError

    monkeypatch.chdir(tmp_path)
    planned = []

    def plan(recipe, scale=None, progress=True):
        planned.append((recipe.name, recipe.config["seed"], recipe.sampling.seed))
        raise UserError("planning stopped by the test")

    monkeypatch.setattr(build, "plan_recipe", plan)
    assert main(["audit", "depth-vpt", "--seed", "1001"]) == 2
    assert planned == [("depth-vpt", 1001, 1001)]
    planned.clear()
    assert main(["audit", "depth-vpt"]) == 2 and planned[0][1] != 1001  # the recipe's own seed otherwise
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["audit", "depth-vpt", "--seed", "-3"])
    assert f"outside 0 .. {2**32 - 1}" in capsys.readouterr().err
