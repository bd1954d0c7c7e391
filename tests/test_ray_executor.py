"""`vpt scenes --executor ray`: errors without Ray or a cluster; on a Ray cluster started on
this machine, the same scene JSONs as the local executor, a killed Ray worker retried, and
a rerun that renders nothing. Also the worker's environment (no checkout on PYTHONPATH
when vpt is installed) and the one recycle default."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import ROOT, recipe_dict
from vpt.cli import build_parser, main
from vpt.errors import UserError
from vpt.render import executor
from vpt.render.ray_executor import cpus_per_task
from vpt.render.same_output import compare, records

try:
    import bpy  # noqa: F401

    HAVE_BPY = True
except ImportError:
    HAVE_BPY = False
try:
    import ray  # noqa: F401

    HAVE_RAY = True
except ImportError:
    HAVE_RAY = False


def _recipe(tmp: Path) -> Path:
    p = tmp / "r.yaml"
    p.write_text(yaml.safe_dump(recipe_dict("depth-vpt")))
    return p


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket closes


def test_executor_ray_without_ray_names_the_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    rc = main(["scenes", str(_recipe(tmp_path)), "--out", str(tmp_path / "d"), "--executor", "ray", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "pip install 'vpt[cluster]'" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "d").exists(), "the error comes before any planning"


@pytest.mark.skipif(not HAVE_RAY, reason="needs Ray (pip install 'vpt[cluster]')")
@pytest.mark.parametrize("address, message", [("127.0.0.1:{port}", "cannot reach a Ray cluster at 127.0.0.1:"),
                                              ("headnode", "is not HOST:PORT")])
def test_unreachable_or_malformed_address_is_a_clear_error(tmp_path, capsys, address, message):
    t0 = time.monotonic()
    rc = main(["scenes", str(_recipe(tmp_path)), "--out", str(tmp_path / "d"), "--executor", "ray",
               "--ray-address", address.format(port=_closed_port()), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert time.monotonic() - t0 < 30, "an unreachable head fails fast (Ray alone waits for minutes)"


def test_ray_address_needs_the_ray_executor(tmp_path, capsys):
    rc = main(["scenes", str(_recipe(tmp_path)), "--out", str(tmp_path / "d"), "--ray-address", "h:6379", "--quiet"])
    assert rc == 2 and "--ray-address needs --executor ray" in capsys.readouterr().err


def test_cpus_per_task_is_the_smallest_node():
    nodes = [{"CPU": 16.0, "memory": 1.0}, {"CPU": 8.0}, {"object_store_memory": 1.0}]
    assert cpus_per_task(nodes) == 8
    assert cpus_per_task(nodes + [{"CPU": 32.0, "GPU": 4.0}], "gpu") == 8  # the node's CPUs per GPU
    with pytest.raises(UserError, match="no node of the Ray cluster has a GPU"):
        cpus_per_task(nodes, "gpu")
    with pytest.raises(UserError, match="no CPUs"):
        cpus_per_task([{"memory": 1.0}])


def test_one_recycle_default():
    args = build_parser().parse_args(["scenes"])
    assert args.recycle_every == executor.DEFAULT_RECYCLE_EVERY == 100  # the docs say 100 too
    assert "every 100 scenes" in (ROOT / "docs" / "rendering.md").read_text()


def test_worker_imports_the_installed_vpt_without_pythonpath(monkeypatch):
    """Here vpt is installed (editable) into the interpreter: the worker gets no PYTHONPATH
    from us. A Python that cannot import this vpt gets this process's source folder."""
    monkeypatch.delenv("PYTHONPATH", raising=False)
    executor._source_root_if_needed.cache_clear()
    installed = subprocess.run([sys.executable, "-c", "import vpt; print(vpt.__file__)"], capture_output=True,
                               text=True, cwd=tempfile.gettempdir(), env={k: v for k, v in os.environ.items()})
    if installed.returncode != 0:
        pytest.skip("vpt is not installed into this interpreter (pip install -e .)")
    monkeypatch.chdir(tempfile.gettempdir())  # not the checkout: `python -m` would find it from there
    assert "PYTHONPATH" not in executor.worker_env()
    bare = shutil.which("python3.11") or shutil.which("python3")
    if bare is None or subprocess.run([bare, "-c", "import vpt"], capture_output=True).returncode == 0:
        pytest.skip("no Python without vpt to compare with")
    env = executor.worker_env(bare)
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(ROOT)
    out = subprocess.run([bare, "-c", "import vpt; print(vpt.__file__)"], env=env, capture_output=True, text=True)
    assert Path(out.stdout.strip()).resolve() == (ROOT / "vpt" / "__init__.py").resolve()
    executor._source_root_if_needed.cache_clear()


# ---------------------------------------------------------------- on a Ray cluster

cluster_only = pytest.mark.skipif(not (HAVE_BPY and HAVE_RAY),
                                  reason="needs Blender's Python module and Ray (pip install -e '.[render,cluster]')")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A one-node Ray cluster on this machine (2 CPUs), with its own token and temp folder;
    yields (address, the environment its drivers need, the head's pid)."""
    tmp = tmp_path_factory.mktemp("ray")
    token = tmp / "token"
    token.write_text(secrets.token_hex(32))
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token),
           "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    port = _closed_port()
    temp = tempfile.mkdtemp(prefix="vr", dir="/tmp")  # short: Ray's socket paths have a length limit
    ray_cli = Path(sys.executable).with_name("ray")
    log = open(tmp / "head.log", "w")  # noqa: SIM115
    head = subprocess.Popen([str(ray_cli), "start", "--head", "--block", "--port", str(port), "--num-cpus", "2",
                             "--include-dashboard", "false", "--disable-usage-stats", "--temp-dir", temp],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 90
        while "Ray runtime started" not in (tmp / "head.log").read_text():
            assert head.poll() is None and time.time() < deadline, (tmp / "head.log").read_text()
            time.sleep(0.5)
        yield f"127.0.0.1:{port}", env, head.pid
    finally:
        head.send_signal(signal.SIGTERM)  # `ray start --block` stops its processes on SIGTERM
        try:
            head.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        log.close()
        shutil.rmtree(temp, ignore_errors=True)


def _scenes(recipe: Path, out: Path, env: dict[str, str], *executor: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "vpt.cli", "scenes", str(recipe), "--out", str(out), "--preset",
                             "preview", "--human-renders", "--quiet", *executor],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(proc: subprocess.Popen, timeout: float = 300) -> str:
    """The output of a `vpt scenes` run once it ends (stopped after ``timeout`` seconds)."""
    try:
        return proc.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        proc.kill()
        out = proc.communicate()[0]
        raise AssertionError(f"vpt scenes still running after {timeout} s:\n{out[-3000:]}") from None


def _ray_scenes(recipe: Path, out: Path, address: str, env: dict[str, str]) -> subprocess.Popen:
    return _scenes(recipe, out, env, "--executor", "ray", "--ray-address", address)


def _check_complete(root: Path, n: int) -> None:
    from vpt.fileio import sha256_file

    df = pd.read_parquet(root / "index.parquet")
    assert len(df) == n and df["rendered"].all()
    assert not (root / "render_rejections.json").exists()
    for rec in records(root).values():
        for meta in rec["files"].values():
            assert sha256_file(root / meta["path"]) == meta["sha256"]
    leftovers = [p for p in root.rglob("*") if p.name.startswith(".") or ".tmp" in p.name]
    assert not leftovers, leftovers


@pytest.mark.ray
@cluster_only
def test_ray_renders_what_local_renders_and_a_rerun_renders_nothing(cluster, tmp_path):
    from tests.test_scenes_render import tiny_recipe

    address, env, _ = cluster
    recipe = tiny_recipe(tmp_path, "same", train=6, test=6)
    for start in (lambda: _scenes(recipe, tmp_path / "local", env),
                  lambda: _ray_scenes(recipe, tmp_path / "ray", address, env)):
        proc = start()  # one after the other
        log = _finish(proc)
        assert proc.returncode == 0, log
    # labels, spec hashes, settings, file hashes and the index: all the same
    n, problems = compare(tmp_path / "local" / "same", tmp_path / "ray" / "same")
    assert n == 12 and not problems, problems
    remote = records(tmp_path / "ray" / "same")
    assert any(r.get("render", {}).get("human") for r in remote.values()), "human-resolution renders went too"
    _check_complete(tmp_path / "ray" / "same", 12)
    assert list((tmp_path / "ray" / "same" / "logs").glob("ray-*.log")), "each Ray worker keeps its Blender log"
    proc = _ray_scenes(recipe, tmp_path / "ray", address, env)  # resume: everything is there
    log = _finish(proc)
    assert proc.returncode == 0 and "(12 kept from an earlier run, 0 written" in log, log
    assert "rendering" not in log


def _proc(pid: int) -> tuple[int, str] | None:
    """(parent pid, command line) of a process, or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1]), cmd


def _blender_under_ray(head: int) -> tuple[int, int] | None:
    """(Ray worker pid, Blender worker pid) of a render running on the test's cluster."""
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        me = _proc(int(d.name))
        if me is None or "vpt.render.worker" not in me[1]:
            continue
        parent = _proc(me[0])
        if parent is None or not parent[1].startswith("ray::"):
            continue
        up = me[0]
        while up > 1:  # one of our cluster's processes, not another Ray on this machine
            info = _proc(up)
            if info is None:
                break
            if info[0] == head:
                return me[0], int(d.name)
            up = info[0]
    return None


@pytest.mark.ray
@cluster_only
def test_a_killed_ray_worker_costs_its_shard_only_and_is_retried(cluster, tmp_path):
    if not Path("/proc/self/stat").exists():
        pytest.skip("finds the Ray worker through /proc (Linux)")
    from tests.test_scenes_render import tiny_recipe

    address, env, head = cluster
    recipe = tiny_recipe(tmp_path, "kill", train=6, test=6)  # 20 renders in shards of 5 (12 items: no audit)
    root = tmp_path / "data" / "kill"
    proc = _ray_scenes(recipe, tmp_path / "data", address, env)
    victim = None
    deadline = time.time() + 240
    while victim is None and time.time() < deadline and proc.poll() is None:
        if list((root / "scenes").rglob("*.json")):  # a shard is done: kill the one rendering now
            victim = _blender_under_ray(head)
        time.sleep(0.05)
    if victim is None:
        proc.kill()
        pytest.fail(f"no render was running on the Ray cluster mid-run:\n{proc.communicate()[0][-3000:]}")
    ray_worker, blender = victim
    done_before = len(list((root / "scenes").rglob("*.json")))
    os.kill(ray_worker, signal.SIGKILL)  # as if its node died
    log = _finish(proc)
    assert proc.returncode == 0, log
    assert done_before < 12, "the kill came mid-run"
    assert _proc(blender) is None or _proc(blender)[0] != ray_worker, "the orphaned Blender worker stopped"
    # every stimulus is there, none rejected: the lost shard ran again, in another Ray worker
    _check_complete(root, 12)
    assert "(0 kept from an earlier run, 12 written, 0 rejected" in log, log
    logs = {p.name for p in (root / "logs").glob("ray-*.log")}
    assert any(f"-{ray_worker}-" in n for n in logs) and len(logs) >= 2, logs
