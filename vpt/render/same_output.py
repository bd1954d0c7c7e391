"""Do two renders of one plan agree? ``python -m vpt.render.same_output DATASET_A DATASET_B``.

Compares two dataset folders rendered from the same recipe (e.g. by the local executor and
by Ray on a cluster): the set of scene JSONs, every field of each (labels, spec hashes,
render settings, the hashes of every file written) except what legitimately differs between
two runs (timings, memory, the git commit), and the index tables. Prints what differs and
exits 1 if anything does; exits 0 with a one-line summary when the two agree.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from vpt.errors import UserError


def stable(rec: dict[str, Any]) -> dict[str, Any]:
    """A scene JSON without what differs between two renders of it: seconds, memory, and
    the commit (others may move it between two runs)."""
    (rec.get("versions") or {}).pop("git", None)
    render = rec.get("render") or {}
    for part in (render, render.get("human") or {}):
        part.pop("timings", None)
        part.pop("rss_mb", None)
    (render.get("raycast") or {}).pop("seconds", None)
    return rec


def records(root: Path) -> dict[str, dict[str, Any]]:
    """Every scene JSON under ``root/scenes``, keyed by its relative path, made :func:`stable`."""
    return {p.relative_to(root).as_posix(): stable(json.loads(p.read_text()))
            for p in sorted((root / "scenes").rglob("*.json"))}


def _diff(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            if k not in a or k not in b:
                out.append(f"{path}.{k}: only in {'B' if k not in a else 'A'}")
            else:
                out.extend(_diff(a[k], b[k], f"{path}.{k}"))
        return out
    return [] if a == b else [f"{path}: {a!r} != {b!r}"[:300]]


def compare(a: Path, b: Path) -> tuple[int, list[str]]:
    """(scenes compared, differences) between the dataset folders ``a`` and ``b``."""
    for root in (a, b):
        if not (root / "scenes").is_dir() or not (root / "index.parquet").is_file():
            raise UserError(f"{root}: not a dataset folder (no scenes/ or index.parquet); give the folder that "
                            f"`vpt scenes` wrote for one recipe, e.g. data/depth-vpt")
    ra, rb = records(a), records(b)
    problems = [f"{name}: only in {'A' if name in ra else 'B'}" for name in sorted(set(ra) ^ set(rb))]
    for name in sorted(set(ra) & set(rb)):
        problems.extend(f"{name}{d}" for d in _diff(ra[name], rb[name]))
    ia, ib = pd.read_parquet(a / "index.parquet"), pd.read_parquet(b / "index.parquet")
    try:
        pd.testing.assert_frame_equal(ia, ib)
    except AssertionError as err:
        problems.append(f"index.parquet differs: {str(err).splitlines()[0]}")
    return len(set(ra) & set(rb)), problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vpt.render.same_output", description=__doc__.splitlines()[0])
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    args = ap.parse_args(argv)
    try:
        n, problems = compare(args.a, args.b)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for p in problems[:50]:
        print(p)
    if problems:
        print(f"{len(problems)} differences over {n} scenes in both")
        return 1
    print(f"{n} scene JSONs (labels, spec hashes, settings, file hashes) and the index agree")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
