"""Run a command and keep what it printed as a dated record in benchmarks/results/.

    .venv/bin/python benchmarks/record.py NAME [--env VAR,VAR] -- COMMAND [ARGS...]

The record, ``benchmarks/results/<UTC date>-<NAME>.md``, holds the command (with the values of
the environment variables named by ``--env``, for scripts that read settings from there), the commit (and
whether the working tree had uncommitted changes), the machine (CPU, cores, memory, GPU, the
Python and torch versions), the start and end time, the exit status and the whole output.
The command's output is also shown as it runs. A second record of the same name on the same
day gets a numbered suffix: records are never overwritten.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = next(int(x.split()[1]) for x in Path("/proc/meminfo").read_text().splitlines()
                   if x.startswith("MemTotal")) / 2 ** 20
        cpu += f", {os.cpu_count()} cores, {mem:.0f} GiB"
    except (OSError, StopIteration):
        pass
    gpu = "no GPU"
    torch_version = "not installed"
    try:
        import torch

        torch_version = torch.__version__
        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return f"{cpu}; {gpu}; Python {platform.python_version()}; torch {torch_version}"


def record_path(name: str, day: str) -> Path:
    path = RESULTS / f"{day}-{name}.md"
    k = 2
    while path.exists():
        path = RESULTS / f"{day}-{name}-{k}.md"
        k += 1
    return path


def main(argv: list[str]) -> int:
    env_names: list[str] = []
    if len(argv) > 2 and argv[1] == "--env":
        env_names = [v for v in argv[2].split(",") if v]
        argv = [argv[0], *argv[3:]]
    if "--" not in argv or argv.index("--") != 1 or len(argv) < 3:
        print("usage: record.py NAME [--env VAR,VAR] -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    name, command = argv[0], argv[2:]
    settings = " ".join(f"{v}={os.environ[v]}" for v in env_names if v in os.environ)
    if not name.replace("-", "").replace("_", "").isalnum():
        print(f"record.py: NAME {name!r} must be letters, digits, '-' or '_'", file=sys.stderr)
        return 2
    start = dt.datetime.now(dt.timezone.utc)
    commit, dirty = _git("rev-parse", "HEAD"), bool(_git("status", "--porcelain", "--untracked-files=no"))
    lines: list[str] = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "\r" in line:  # progress bars: keep their last state only
                line = line.rsplit("\r", 1)[-1] or line
            sys.stdout.write(line)
            lines.append(line)
        rc = proc.wait()
    end = dt.datetime.now(dt.timezone.utc)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = record_path(name, start.strftime("%Y-%m-%d"))
    header = [f"# {name}", "",
              f"- command: `{(settings + ' ') if settings else ''}{' '.join(command)}`",
              f"- commit: `{commit}`" + (" (with uncommitted changes)" if dirty else ""),
              f"- machine: {machine()}",
              f"- started: {start:%Y-%m-%d %H:%M:%S} UTC; finished: {end:%H:%M:%S} UTC "
              f"({(end - start).total_seconds() / 60:.1f} min)",
              f"- exit status: {rc}", "", "## Output", "", "```"]
    path.write_text("\n".join(header) + "\n" + "".join(lines).rstrip("\n") + "\n```\n", encoding="utf-8")
    print(f"record: {path.relative_to(RESULTS.parent.parent)}", file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
