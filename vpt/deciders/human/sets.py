"""Which datasets one study serves: the benchmark given with ``--dataset`` and the conflict sets
beside it.

A study shows the human set of ``--dataset`` (``data/depth-vpt``) and, mixed into it as
ordinary test trials, the human set of every conflict set beside it (``data/conflict``: a
dataset folder in the same parent whose items are look-alike pairs, see
:func:`vpt.datasets.audit_families.profile_of`). With the packaged recipes that is 96 basic
and 32 conflict items, the conflict items a quarter of the test trials. The warm-up (and so
the attention checks and the tutorial's examples) comes from ``--dataset`` only: people learn
the task on basic items, as the models are trained on the basic set, and meet the conflict
items unprepared.

The study database and the static bundle's manifest record the added sets (name and index
hash); the export and the import find them again beside ``--dataset`` and refuse a set whose
index has changed since.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from vpt.datasets.index import is_dataset, read_index
from vpt.errors import UserError
from vpt.trials.items import Dataset, load_dataset


def is_conflict_set(root: Path) -> bool:
    """A dataset folder of look-alike pairs (binary items, not sweep steps)."""
    from vpt.datasets.audit_families import is_conflict_index

    return is_conflict_index(read_index(root))


def conflict_sets_beside(dataset: Dataset) -> list[Dataset]:
    """The conflict sets with a human set in the folders beside ``dataset`` (same parent), by
    name; none when ``dataset`` is a conflict set itself (a study of the conflict set alone)."""
    from vpt.datasets.audit_families import conflict_folders_beside

    root = Path(dataset.root)
    if is_conflict_set(root):
        return []
    found = [load_dataset(p) for p in conflict_folders_beside(root)]
    return [d for d in found if d.items["human_set"].any()]


def study_sets(dataset: str | Path, conflict: bool = True) -> tuple[Dataset, list[Dataset]]:
    """The dataset of ``--dataset`` and the sets added to its human set (the conflict sets
    beside it, or none when ``conflict`` is False)."""
    ds = load_dataset(dataset)
    return ds, (conflict_sets_beside(ds) if conflict else [])


def describe(sets: Sequence[Dataset]) -> list[dict[str, str]]:
    """The added sets as a study records them: name and index hash."""
    return [{"name": d.name, "hash": d.hash} for d in sets]


def recorded_sets(dataset: Dataset, recorded: Sequence[dict[str, Any]] | None, what: str) -> list[Dataset]:
    """The added sets a study recorded (``describe``), found again beside ``dataset``; a set
    that is missing or whose index changed since is an error naming it (``what`` names the
    study database or the manifest)."""
    out = []
    for rec in recorded or []:
        p = Path(dataset.root).parent / rec["name"]
        if not is_dataset(p):
            raise UserError(f"{what}: the study also served the conflict set {rec['name']!r}, expected beside "
                            f"{dataset.root} at {p}; put that dataset folder back there (the one the study ran on)")
        d = load_dataset(p)
        if d.hash != rec["hash"]:
            raise UserError(f"{what}: the conflict set {p} has changed since the study ran (index hash {d.hash}, "
                            f"the study's {rec['hash']}); use the dataset folder the study ran on")
        out.append(d)
    return out


def share_line(dataset: Dataset, sets: Sequence[Dataset], n_test: dict[str, int]) -> str:
    """``"96 from depth-vpt, 32 from conflict: 25 % conflict"``, for the start-up message."""
    total = sum(n_test.values()) or 1
    parts = [f"{n_test.get(d.name, 0)} from {d.name}" for d in [dataset, *sets]]
    extra = sum(n_test.get(d.name, 0) for d in sets)
    return ", ".join(parts) + (f": {100 * extra / total:.0f} % conflict" if sets else "")
