"""A wheel built from this tree, installed into a fresh virtual environment outside the
checkout, validates, plans and renders from another folder: the catalogues, the default
recipes and the evaluators' inputs (top-level assets/, scenes/ and evaluation/ in the checkout)
ship inside the package as vpt/_data/ (read through vpt.resources)."""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import setuptools
import tomllib
import yaml

from tests.conftest import ROOT
from vpt.resources import KINDS, data_dir, data_path, recipes_dir, resolve, resolve_recipe

SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "node_modules", "*.egg-info")
# every file under these must ship, at this path in the wheel (the checkout's folder: the wheel's)
PACKAGE_DATA = {"assets": "vpt/_data/assets", "scenes": "vpt/_data/scenes", "evaluation": "vpt/_data/evaluation",
                "vpt/deciders/human/static": "vpt/deciders/human/static"}
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "vpt", *KINDS)  # what a build reads from the checkout


def test_a_checkout_reads_its_top_level_folders():
    assert data_dir() == ROOT  # vpt imported from this checkout: scenes/, assets/, evaluation/ at the top
    assert recipes_dir() == ROOT / "scenes" and data_path("assets", "styles.yaml").is_file()


def test_every_package_and_data_folder_is_in_the_packaging_list():
    """pyproject.toml lists its packages (the data folders are mapped into vpt/_data): a new
    subpackage of vpt, or a new folder under evaluation/, must be added there or the wheel lacks it."""
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    def holds_files(folder: Path) -> bool:  # not a folder left behind empty (or with only __pycache__)
        return any(f.is_file() and "__pycache__" not in f.parts for f in folder.rglob("*"))

    code = [p for p in setuptools.find_namespace_packages(str(ROOT), include=["vpt", "vpt.*"],
                                                          exclude=["vpt.deciders.human.web", "vpt.deciders.human.web.*",
                                                                   # built by make human-assets, absent from a
                                                                   # clean checkout: package data of static
                                                                   "vpt.deciders.human.static.vendor"])
            if holds_files(ROOT.joinpath(*p.split(".")))]
    data = [f"vpt._data.{kind}" + "".join(f".{p}" for p in d.relative_to(ROOT / kind).parts)
            for kind in KINDS for d in [ROOT / kind, *(ROOT / kind).rglob("*")] if d.is_dir()
            and "__pycache__" not in d.parts and holds_files(d)]
    listed, tree = set(tool["packages"]), {*code, *data}
    assert listed == tree, (f"[tool.setuptools] packages in pyproject.toml: add {sorted(tree - listed)}, "
                            f"remove {sorted(listed - tree)}")
    assert tool["package-dir"] == {f"vpt._data.{kind}": kind for kind in KINDS}


def test_a_users_path_wins_and_packaged_data_fills_in(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no scenes/ here: the packaged ones, by relative path or by name
    packaged = recipes_dir() / "depth-vpt.yaml"
    assert resolve_recipe("scenes") == recipes_dir()
    assert resolve_recipe("scenes/depth-vpt.yaml") == resolve_recipe("depth-vpt") == resolve_recipe("depth-vpt.yaml")
    assert resolve_recipe("depth-vpt") == packaged
    assert resolve("evaluation/models/default.yaml") == data_path("evaluation", "models", "default.yaml")
    for missing in ("nope", "scenes/nope.yaml", "other/depth-vpt.yaml"):
        assert resolve_recipe(missing) == Path(missing)  # left for the caller's error
    (tmp_path / "scenes").mkdir()
    (tmp_path / "scenes" / "depth-vpt.yaml").write_text("name: mine\n")
    (tmp_path / "depth-vpt.yaml").write_text("name: mine\n")
    assert resolve_recipe("scenes") == Path("scenes")
    assert resolve_recipe("scenes/depth-vpt.yaml") == Path("scenes/depth-vpt.yaml")
    assert resolve_recipe("depth-vpt.yaml") == Path("depth-vpt.yaml")
    from vpt.metrics.metadata import load_model_list

    assert len(load_model_list("evaluation/models/default.yaml")) > 0  # README form, from any folder


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)
    assert out.returncode == 0, f"{' '.join(map(str, cmd))} exited {out.returncode}:\n{out.stdout}\n{out.stderr}"
    return out


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(venv, wheel, env, work folder): the wheel of this tree installed into a new venv."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"  # a copy, so the build leaves nothing in the checkout (no stale build/lib)
    src.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=SKIP)
        else:
            shutil.copy2(ROOT / name, src / name)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
          "-w", str(tmp / "dist"), str(src)])
    (wheel,) = (tmp / "dist").glob("vpt-*.whl")

    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    py = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index", "-q", str(wheel)])
    # Third-party dependencies from this environment, appended after the venv's own
    # site-packages: a .pth line adds a folder without running that folder's .pth files, so
    # this environment's editable vpt is not installed there and `import vpt` finds the wheel.
    venv_site = Path(_run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).stdout.strip())
    (venv_site / "_vpt_test_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    work = tmp / "elsewhere"
    work.mkdir()
    return venv, wheel, env, work


def _vpt(installed, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    venv, _, env, work = installed
    cmd = [str(venv / "bin" / "vpt"), *args]
    if check:
        return _run(cmd, cwd=work, env=env)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=work, env=env)


@pytest.mark.wheel
def test_wheel_ships_every_data_file(installed):
    names = set(zipfile.ZipFile(installed[1]).namelist())
    wanted = {f"{shipped}/{p.relative_to(ROOT / d).as_posix()}" for d, shipped in PACKAGE_DATA.items()
              for p in (ROOT / d).rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert wanted and wanted <= names, f"missing from the wheel: {sorted(wanted - names)}"
    assert not any("node_modules" in n for n in names)
    assert {n.split("/")[0] for n in names if ".dist-info/" not in n} == {"vpt"}  # no top-level scenes/ etc.


@pytest.mark.wheel
def test_the_wheels_vpt_is_imported_and_finds_its_data(installed):
    venv, _, env, work = installed
    out = _run([str(venv / "bin" / "python"), "-c", "import vpt, vpt.resources as r; print(vpt.__file__); "
                "print(r.data_dir()); print(r.recipe_names())"], cwd=work, env=env).stdout.splitlines()
    module, data, names = Path(out[0]), Path(out[1]), out[2]
    assert module.is_relative_to(venv) and data.is_relative_to(venv), out
    assert not module.is_relative_to(ROOT)
    assert names == "['conflict', 'depth-vpt', 'vpt-strategy']"


@pytest.mark.wheel
def test_check_finds_the_packaged_recipes_from_another_folder(installed):
    venv = installed[0]
    out = _vpt(installed, "check").stdout.splitlines()  # default: the packaged recipes
    assert len(out) == 3 and all(": ok (" in line for line in out), out
    assert all(Path(line.split(":")[0]).is_relative_to(venv) for line in out), out
    by_name = _vpt(installed, "check", "depth-vpt", "scenes/vpt-strategy.yaml").stdout  # a name; the README's form
    assert "depth-vpt.yaml: ok (binary" in by_name and "vpt-strategy.yaml: ok (sweeps" in by_name
    bad = _vpt(installed, "check", "no-such-recipe", check=False)
    assert bad.returncode == 2 and "no such recipe file" in bad.stderr and "depth-vpt, vpt-strategy" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr


@pytest.mark.wheel
def test_plan_only_of_a_packaged_recipe(installed):
    work = installed[3]
    _vpt(installed, "scenes", "vpt-strategy", "--out", "plans", "--plan-only", "--quiet")
    root = work / "plans" / "vpt-strategy"
    index = pd.read_csv(root / "index.csv")
    scenes = sorted((root / "scenes").rglob("*.json"))
    assert len(index) == len(scenes) > 0
    record = json.loads(scenes[0].read_text())
    assert record["versions"]["git"] == "unknown"  # outside a checkout: no commit (and no other repo's)


def _one_image_recipe(installed) -> Path:
    """The packaged depth-vpt recipe, as the installed package has it, cut to one 64 px image."""
    venv, _, env, work = installed
    packaged = _run([str(venv / "bin" / "python"), "-c", "from vpt.resources import recipes_dir; "
                     "print(recipes_dir() / 'depth-vpt.yaml')"], cwd=work, env=env).stdout.strip()
    d = yaml.safe_load(Path(packaged).read_text())
    d["balance"]["pool"] = 2
    d.update(name="one", resolution=[64, 64], splits={"train": 1, "val": 0, "test": 0, "ood": 0}, human_set=0,
             warmup=0, human_resolution=0)
    d["labels"]["min_ball_px"], d["labels"]["min_viewer_px"] = 1.2, 2.2  # 64 px images
    path = work / "one.yaml"
    path.write_text(yaml.safe_dump(d))
    return path


@pytest.mark.wheel
def test_render_one_image(installed):
    venv, _, env, work = installed
    has_bpy = _run([str(venv / "bin" / "python"), "-c", "import importlib.util as u; print(bool(u.find_spec('bpy')))"],
                   cwd=work, env=env).stdout.strip()
    if has_bpy != "True":
        pytest.skip("bpy (Blender as a Python module) is not installed: pip install 'bpy==4.5.15'")
    recipe = _one_image_recipe(installed)
    _vpt(installed, "scenes", str(recipe), "--out", "rendered", "--preset", "preview", "--quiet")
    root = work / "rendered" / "one"
    (scene,) = (root / "scenes" / "train").glob("*.json")
    record = json.loads(scene.read_text())
    image = root / "images" / "train" / f"{scene.stem}.png"
    assert image.stat().st_size > 0 and (root / "images" / "train" / f"{scene.stem}_mask.png").is_file()
    assert record["versions"]["bpy"] and record["versions"]["git"] == "unknown"
