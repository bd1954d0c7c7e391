"""Recipes: validated YAML files that say what a benchmark contains (the defaults are in
``scenes/``; see :mod:`vpt.resources` for how a recipe argument is found).

Validation is strict and explains itself: an unknown key names the closest known key, a
wrong type names the expected type, an impossible range says which bound is wrong. Every
field has a default, so a recipe only states what it changes.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from vpt import resources
from vpt.errors import UserError
from vpt.scene.labels import LabelConfig
from vpt.scene.settings import (
    BallSettings,
    LabelSettings,
    ObserverSettings,
    OccluderSettings,
    SamplingSettings,
    ViewerSettings,
    schema_leaf,
    schema_section,
)



class RecipeError(UserError, ValueError):
    """A recipe is malformed; the message says which field, what is wrong, and how to fix it."""


def load_catalogue(name: str) -> dict[str, Any]:
    path = resources.asset(name)
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


# Each schema leaf: (type, default, constraint). Types: "int", "float", "str", "bool",
# "range" (a number or [lo, hi]), "list[str]", "choice:<a|b>", "dict" (nested schema).
# Constraints: (lo, hi) bounds for numbers and ranges; for list[str] the catalogue to check.
# The sections and keys the scene sampler reads are declared once, as the fields of the
# settings classes of vpt.scene.settings (their leaves ride in the fields' metadata); this
# table takes them from there, in the same places, and declares the rest itself.
_RANGE = "range"

BINARY_SCHEMA: dict[str, Any] = {
    "name": ("str", None, None),
    "description": ("str", "", None),
    "kind": ("choice:binary|sweeps|conflict", "binary", None),
    "seed": schema_leaf(SamplingSettings, "seed"),
    "resolution": schema_leaf(SamplingSettings, "resolution"),
    # the human set and the warm-up also rendered at this size (same camera and field of
    # view, more pixels) for people; null, 0 or [] switches it off
    "human_resolution": ("list[int]|off", [512, 512], (32, 4096)),
    "splits": {
        "train": ("int", 256, (0, 10**6)),
        "val": ("int", 64, (0, 10**6)),
        "test": ("int", 128, (0, 10**6)),
        "ood": ("int", 64, (0, 10**6)),
    },
    "scales": ("dict[float]", {"paper": 12.0}, (0.01, 1000.0)),
    "human_set": ("int", 96, (0, 10**5)),
    "warmup": ("int", 24, (0, 10**5)),
    "styles": ("list[str]", ["studio", "room", "outdoor"], "styles"),
    "occluders": schema_section(OccluderSettings),
    "ood": {
        "occluder_shapes": ("list[str]", ["drum", "boulder"], "occluders"),
        "styles": ("list[str]", ["studio", "room", "outdoor"], "styles"),
    },
    "viewer": schema_section(ViewerSettings),
    "ball": schema_section(BallSettings),
    "observer": schema_section(ObserverSettings),
    "labels": schema_section(LabelSettings),
    "balance": {
        "occluded_share": ("float", 0.5, (0.0, 0.5)),
        "max_candidates_per_item": ("int", 300, (1, 100000)),
        "batch_size": ("int", 2048, (1, 100000)),
        "pool": ("float", 3.0, (1.0, 20.0)),
        # relative size of the two cells with the ball on the side the viewer faces away from
        # and no occluder over the segment (vpt.datasets.balance.away_open): 1 = equal cells
        "away_open_weight": ("float", 1.0, (0.1, 1.0)),
    },
}

# sweep kinds, in planning order (see vpt.datasets.sweeps); 8 sweeps of a kind balance its
# nuisance factors exactly (ball side, direction of motion, ...)
SWEEP_KINDS = ("occluder_slide", "occluder_move", "viewer_turn", "depth_pass", "invariance")
_SWEEP_STEPS = {"occluder_slide": 15, "occluder_move": 15, "viewer_turn": 15, "depth_pass": 13, "invariance": 9}
SWEEPS_SCHEMA: dict[str, Any] = {
    **{k: v for k, v in BINARY_SCHEMA.items() if k not in ("splits", "human_set", "warmup", "ood", "balance")},
    "sweeps": {
        **{k: {"count": ("int", 8, (0, 10**4)), "steps": ("int", n, (5, 200))} for k, n in _SWEEP_STEPS.items()},
        "max_attempts": ("int", 300, (1, 10**6)),
    },
    "scales": ("dict[float]", {"paper": 5.0}, (0.01, 1000.0)),
}


# The conflict set (vpt.datasets.conflict_set): the binary keys but the matched sampler's
# `balance`; splits, human set and warm-up count items, two per look-alike pair (even numbers).
CONFLICT_SCHEMA: dict[str, Any] = {
    **{k: v for k, v in BINARY_SCHEMA.items() if k != "balance"},
    "splits": {
        "train": ("int", 128, (0, 10**6)),
        "val": ("int", 32, (0, 10**6)),
        "test": ("int", 128, (0, 10**6)),
        "ood": ("int", 32, (0, 10**6)),
    },
    "scales": ("dict[float]", {"paper": 4.0}, (0.01, 1000.0)),
    "human_set": ("int", 32, (0, 10**5)),
    "warmup": ("int", 8, (0, 10**5)),
    "conflict": {
        "pairs_per_job": ("int", 8, (1, 10**4)),  # pairs one planning process solves at a time
        "attempts_per_pair": ("int", 150, (2, 10**4)),  # random base scenes a job may try, per pair
        "kinds": ("list[name]", ["facing", "cover"], None),  # the pair kinds, solved in turn
        # a binary dataset beside this one (same output folder) whose train split trains the
        # card's boosted trees over all cues, scored on this set's test split; "" for none
        "basic": ("str", "depth-vpt", None),
    },
}
SCHEMAS = {"binary": BINARY_SCHEMA, "sweeps": SWEEPS_SCHEMA, "conflict": CONFLICT_SCHEMA}


def _fail(path: str, msg: str) -> None:
    raise RecipeError(f"{path}: {msg}")


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _check_leaf(path: str, spec: tuple, value: Any) -> Any:
    kind, _, constraint = spec
    if kind == "str":
        if not isinstance(value, str):
            _fail(path, f"expected text, got {type(value).__name__} {value!r}")
        return value
    if kind.startswith("choice:"):
        options = kind.split(":", 1)[1].split("|")
        if value not in options:
            _fail(path, f"must be one of {options}, got {value!r}")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            _fail(path, f"expected true or false, got {value!r}")
        return value
    if kind in ("int", "float"):
        if kind == "int" and not (isinstance(value, int) and not isinstance(value, bool)):
            _fail(path, f"expected a whole number, got {value!r}")
        if not _is_number(value):
            _fail(path, f"expected a number, got {value!r}")
        lo, hi = constraint
        if not lo <= value <= hi:
            _fail(path, f"{value} is outside the allowed range [{lo}, {hi}]")
        return int(value) if kind == "int" else float(value)
    if kind == _RANGE:
        if _is_number(value):
            value = [value, value]
        if not (isinstance(value, list) and len(value) == 2 and all(_is_number(v) for v in value)):
            _fail(path, f"expected a number or a range [low, high], got {value!r}")
        lo, hi = constraint
        if value[0] > value[1]:
            _fail(path, f"range [{value[0]}, {value[1]}] is empty: the low end is above the high end; swap them")
        if value[0] < lo or value[1] > hi:
            _fail(path, f"range [{value[0]}, {value[1]}] leaves the allowed range [{lo}, {hi}]")
        return [float(value[0]), float(value[1])]
    if kind == "list[int]":
        if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
            _fail(path, f"expected [width, height] in pixels, got {value!r}")
        lo, hi = constraint
        if not all(lo <= v <= hi for v in value):
            _fail(path, f"{value} has a size outside [{lo}, {hi}] pixels")
        return list(value)
    if kind == "list[int]|off":
        if value is None or value == 0 or value == [] or value is False:
            return None
        if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
            _fail(path, f"expected [width, height] in pixels, or null (or 0) to switch it off, got {value!r}")
        return _check_leaf(path, ("list[int]", None, constraint), value)
    if kind == "list[name]":
        if isinstance(value, str):
            value = [value]
        if not (isinstance(value, list) and value and all(isinstance(v, str) and v for v in value)):
            _fail(path, f"expected a non-empty list of names, got {value!r}")
        if len(set(value)) != len(value):
            _fail(path, f"names appear twice in {value!r}")
        return list(value)
    if kind == "list[str]":
        if isinstance(value, str):
            value = [value]
        if not (isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
            _fail(path, f"expected a non-empty list of names, got {value!r}")
        known = sorted(load_catalogue(constraint)) if constraint != "viewers" else ["camera", "figure", "head"]
        for v in value:
            if v not in known:
                close = difflib.get_close_matches(v, known, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                _fail(path, f"unknown name {v!r}; known: {', '.join(known)}.{hint}")
        return list(value)
    if kind == "dict[float]":
        if not isinstance(value, dict):
            _fail(path, f"expected a mapping of name: number, got {value!r}")
        lo, hi = constraint
        out = {}
        for k, v in value.items():
            if not _is_number(v) or not lo <= v <= hi:
                _fail(f"{path}.{k}", f"expected a number in [{lo}, {hi}], got {v!r}")
            out[str(k)] = float(v)
        return out
    raise AssertionError(kind)


def _validate(path: str, schema: dict[str, Any], data: Any) -> dict[str, Any]:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        _fail(path or "recipe", f"expected a mapping of keys, got {type(data).__name__}")
    for key in data:
        if key not in schema:
            close = difflib.get_close_matches(str(key), list(schema), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else f" Known keys: {', '.join(schema)}."
            _fail(f"{path}.{key}" if path else str(key), f"unknown key.{hint}")
    out: dict[str, Any] = {}
    for key, spec in schema.items():
        sub = f"{path}.{key}" if path else key
        if isinstance(spec, dict):
            out[key] = _validate(sub, spec, data.get(key))
        elif key in data:
            out[key] = _check_leaf(sub, spec, data[key])
        elif spec[1] is None:
            _fail(sub, "is required")
        else:
            out[key] = _check_leaf(sub, spec, copy.deepcopy(spec[1]))  # normalises, e.g. 60 -> [60, 60]
    return out


@dataclass(frozen=True)
class Recipe:
    name: str
    kind: str
    path: str
    config: dict[str, Any]

    @cached_property
    def sampling(self) -> SamplingSettings:
        """The sections the scene sampler reads, typed (:mod:`vpt.scene.settings`)."""
        return SamplingSettings.from_config(self.config)

    @property
    def labels(self) -> LabelConfig:
        return self.sampling.labels.config()

    @property
    def config_hash(self) -> str:
        blob = json.dumps(self.config, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def scale_factor(self, scale: str | None = None) -> float:
        """The multiplier of a named scale (1 for None); a clear error for an unknown name."""
        if not scale:
            return 1.0
        if scale not in self.config["scales"]:
            raise RecipeError(f"{self.path}: scales: no scale named {scale!r}; "
                              f"known: {', '.join(self.config['scales'])}")
        return self.config["scales"][scale]

    def split_sizes(self, scale: str | None = None) -> dict[str, int]:
        factor = self.scale_factor(scale)
        return {k: int(round(v * factor)) for k, v in self.config["splits"].items()}


def parse_recipe(data: Any, path: str = "<recipe>") -> Recipe:
    """Validate a recipe mapping; raises :class:`RecipeError` naming the field at fault."""
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe must be a YAML mapping (key: value lines), got {type(data).__name__}")
    kind = data.get("kind", "binary")
    schema = SCHEMAS.get(kind, BINARY_SCHEMA)  # an unknown kind fails on the "kind" key
    try:
        config = _validate("", schema, data)
    except RecipeError as err:
        raise RecipeError(f"{path}: {err}") from None
    _check_consistency(config, path)
    return Recipe(name=config["name"], kind=config["kind"], path=path, config=config)


def _check_consistency(c: dict[str, Any], path: str) -> None:
    lab = c["labels"]
    hr, res = c.get("human_resolution"), c["resolution"]
    if hr is not None and hr[0] * res[1] != hr[1] * res[0]:
        raise RecipeError(f"{path}: human_resolution: {hr} does not have the shape of resolution {res} (width / "
                          f"height must be the same, so that the camera keeps its field of view); use, e.g., "
                          f"[{2 * res[0]}, {2 * res[1]}]")
    for axis in ("hfov_deg", "vfov_deg"):
        if c["viewer"][axis][1] / 2 + lab["fov_margin_deg"] >= 89.0:
            raise RecipeError(f"{path}: viewer.{axis}: half the field of view plus labels.fov_margin_deg must stay "
                              f"below 89 degrees; lower one of them")
        if c["viewer"][axis][0] / 2 <= lab["fov_margin_deg"]:
            raise RecipeError(f"{path}: viewer.{axis}: the field of view is too narrow for labels.fov_margin_deg "
                              f"({lab['fov_margin_deg']}); widen it or lower the margin")
    if c["kind"] == "conflict":
        odd = [f"splits.{k}" for k, v in c["splits"].items() if v % 2] + [k for k in ("human_set", "warmup") if c[k] % 2]
        if odd:
            raise RecipeError(f"{path}: {odd[0]}: the conflict set is made of look-alike pairs, two items each; "
                              f"give an even number of items")
    if c["kind"] in ("binary", "conflict"):
        if c["human_set"] > c["splits"]["test"]:
            raise RecipeError(f"{path}: human_set: {c['human_set']} items cannot be drawn from a test split of "
                              f"{c['splits']['test']}; lower human_set or raise splits.test")
        if c["warmup"] > c["splits"]["train"]:
            raise RecipeError(f"{path}: warmup: {c['warmup']} items cannot be drawn from a train split of "
                              f"{c['splits']['train']}")
        shared_shapes = set(c["occluders"]["shapes"]) & set(c["ood"]["occluder_shapes"])
        shared_styles = set(c["styles"]) & set(c["ood"]["styles"])
        if shared_shapes and shared_styles:
            raise RecipeError(f"{path}: ood: the ood split must use occluder shapes or styles never seen in train; "
                              f"shapes {sorted(shared_shapes)} and styles {sorted(shared_styles)} appear in both")


def _yaml_where(err: "yaml.YAMLError") -> str:
    """``, line L, column C: problem`` of a YAML error, on one line."""
    mark = getattr(err, "problem_mark", None)
    where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = " ".join(str(getattr(err, "problem", None) or err).split())
    return f"{where}: {problem}"


def load_recipe(path: str | Path) -> Recipe:
    """Read and validate one recipe file."""
    p = resources.resolve_recipe(path)
    if not p.exists():
        raise RecipeError(f"{p}: no such recipe file; pass a recipe file, a folder of them, or a packaged "
                          f"recipe by name ({', '.join(resources.recipe_names())})")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise RecipeError(f"{p}: not valid YAML{_yaml_where(err)}; check the brackets, quotes and "
                          f"indentation there") from None
    return parse_recipe(data, str(p))


def find_recipes(target: str | Path) -> list[Recipe]:
    """A recipe file, or every ``*.yaml`` in a folder, sorted by name, the conflict recipes
    last (their card compares with a binary dataset written beside them: ``conflict.basic``)."""
    p = resources.resolve_recipe(target)
    if p.is_dir():
        files = sorted(p.glob("*.yaml"))
        if not files:
            raise RecipeError(f"{p}: no *.yaml recipes in this folder")
        return sorted((load_recipe(f) for f in files), key=lambda r: r.kind == "conflict")
    return [load_recipe(p)]
