"""Model lists and reference data from `evaluation/`, validated on load, and the grouping
of results by model metadata (family, training data, objective) with rank correlation to
ImageNet top-1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from scipy import stats

from vpt import resources
from vpt.errors import UserError

MODEL_LISTS = resources.data_path("evaluation", "models")
REFERENCE_3DPC = resources.data_path("evaluation", "reference", "3dpc.yaml")
MODEL_KEYS = ("name", "family", "training_data", "objective", "imagenet_top1")
GROUP_BY = ("family", "training_data", "objective")
SEPARATORS = ("/", ":", "@", "|", " ")


class MetadataError(UserError):
    """A model list or reference file that does not follow its format."""


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(resources.resolve(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise MetadataError(f"{path}: cannot read: {err}") from err
    if not isinstance(data, dict):
        raise MetadataError(f"{path}: expected a mapping at the top level")
    return data


def load_model_list(path: str | Path) -> pd.DataFrame:
    """A model list (`evaluation/models/*.yaml`): `models:` entries with exactly the keys
    name, family, training_data, objective, imagenet_top1 (a percentage or null)."""
    data = _load_yaml(Path(path))
    models = data.get("models")
    if not isinstance(models, list) or not models:
        raise MetadataError(f"{path}: needs a non-empty `models:` list")
    seen: set[str] = set()
    for i, m in enumerate(models):
        where = f"{path}: models[{i}]"
        if not isinstance(m, dict):
            raise MetadataError(f"{where}: expected a mapping")
        missing, extra = set(MODEL_KEYS) - set(m), set(m) - set(MODEL_KEYS)
        if missing or extra:
            raise MetadataError(f"{where}: " + (f"missing {sorted(missing)}" if missing else f"unknown keys {sorted(extra)}")
                                + f"; keys are {', '.join(MODEL_KEYS)}")
        for key in ("name", "family", "training_data", "objective"):
            if not isinstance(m[key], str) or not m[key].strip():
                raise MetadataError(f"{where}: {key} must be a non-empty string")
        top1 = m["imagenet_top1"]
        if top1 is not None and (isinstance(top1, bool) or not isinstance(top1, (int, float)) or not 0 <= top1 <= 100):
            raise MetadataError(f"{where}: imagenet_top1 must be a percentage in [0, 100] or null, got {top1!r}")
        if m["name"] in seen:
            raise MetadataError(f"{where}: duplicate name {m['name']!r}")
        seen.add(m["name"])
    df = pd.DataFrame(models, columns=list(MODEL_KEYS))
    df["imagenet_top1"] = pd.to_numeric(df["imagenet_top1"]).astype(float)
    df["source"] = Path(path).name
    return df


def load_model_lists(folder: str | Path = MODEL_LISTS) -> pd.DataFrame:
    """Every model list of a folder, concatenated (a later file may not repeat a name)."""
    files = sorted(resources.resolve(folder).glob("*.yaml"))
    frames = [load_model_list(f) for f in files]
    if not frames:
        return pd.DataFrame(columns=[*MODEL_KEYS, "source"])
    df = pd.concat(frames, ignore_index=True)
    dup = df["name"].duplicated()
    if dup.any():
        raise MetadataError(f"{folder}: model {df['name'][dup].iloc[0]!r} appears in more than one list")
    return df


def match_models(decision_makers: pd.Series | list[str], models: pd.DataFrame) -> pd.DataFrame:
    """Metadata per decision maker: the longest list name that equals it or prefixes it
    followed by a separator. Unmatched decision makers are left out, and so are probes of an
    intermediate layer (``<model>/<weights>@<layer>/<head>``: the per-layer curves show them)."""
    names = sorted(models["name"], key=len, reverse=True)
    by_name = models.set_index("name")
    rows = []
    for dm in pd.unique(pd.Series(list(decision_makers), dtype=object)):
        hit = next((n for n in names if dm == n or any(dm.startswith(n + s) for s in SEPARATORS)), None)
        if hit is not None and "@" in dm[len(hit):]:
            continue  # a probe of an intermediate layer (per-layer curves): not the backbone's own features
        if hit is not None:
            row = {"decision_maker": dm, "model": hit, **by_name.loc[hit].drop("source", errors="ignore").to_dict()}
            if untrained(dm, hit):  # the architecture's random-init twin: no training data, no ImageNet top-1
                row.update(training_data="none", objective="random init", imagenet_top1=float("nan"))
            rows.append(row)
    return pd.DataFrame(rows, columns=["decision_maker", "model", *MODEL_KEYS[1:]])


def untrained(decision_maker: str, model: str) -> bool:
    """A decision maker built on the randomly initialised twin of ``model``
    (``<model>/random-init.../<head>``, the weights tag written by the vision backbones)."""
    rest = decision_maker[len(model):].lstrip("/:@| ")
    return rest.startswith("random-init")


def group_scores(acc: pd.DataFrame, meta: pd.DataFrame) -> pd.DataFrame:
    """Accuracy per (task, split, grouping, group): models, mean, median, best."""
    if meta.empty:
        return pd.DataFrame()
    m = acc.merge(meta, on="decision_maker")
    parts = []
    for key in GROUP_BY:
        g = m.groupby(["task", "split", key])["accuracy"]
        parts.append(g.agg(n_models="size", mean="mean", median="median", best="max").reset_index()
                     .rename(columns={key: "group"}).assign(grouping=key))
    return pd.concat(parts, ignore_index=True)[["grouping", "group", "task", "split", "n_models", "mean", "median",
                                                "best"]]


def top1_correlation(acc: pd.DataFrame, meta: pd.DataFrame, min_models: int = 3) -> pd.DataFrame:
    """Spearman rank correlation (and Pearson r, as 3D-PC reports) of accuracy with ImageNet
    top-1 per (task, split, and kind where ``acc`` has one: probes and fine-tuned networks are
    not ranked together), over matched decision makers with a known top-1."""
    if meta.empty:
        return pd.DataFrame()
    m = acc.merge(meta.dropna(subset=["imagenet_top1"]), on="decision_maker").dropna(subset=["accuracy"])
    keys = ["task", "split", *(["kind"] if "kind" in m.columns else [])]  # probes and fine-tuned apart
    rows = []
    for key, g in m.groupby(keys):
        if len(g) < min_models or g["accuracy"].nunique() < 2 or g["imagenet_top1"].nunique() < 2:
            continue
        rho, p_rho = stats.spearmanr(g["imagenet_top1"], g["accuracy"])
        r, p_r = stats.pearsonr(g["imagenet_top1"], g["accuracy"])
        rows.append({**dict(zip(keys, key)), "n_models": len(g), "spearman_rho": float(rho),
                     "spearman_p": float(p_rho), "pearson_r": float(r), "pearson_p": float(p_r)})
    return pd.DataFrame(rows)


def load_reference(path: str | Path = REFERENCE_3DPC) -> dict[str, Any]:
    """The 3D-PC reference numbers, checked: citation present, percentages in [0, 100],
    kappas and correlations in [-1, 1], tasks among depth, vpt, vpt_strategy."""
    data = _load_yaml(Path(path))
    for key in ("name", "citation", "source", "stimulus_set", "humans", "human_kappa", "models", "imagenet_pearson"):
        if key not in data:
            raise MetadataError(f"{path}: missing {key!r}")
    tasks = {"depth", "vpt", "vpt_strategy"}

    def check(section: str, fields: dict[str, tuple[float, float]], nullable: tuple[str, ...] = ()) -> None:
        rows = data[section]
        if not isinstance(rows, list) or not rows:
            raise MetadataError(f"{path}: {section} must be a non-empty list")
        for i, row in enumerate(rows):
            if not isinstance(row, dict) or row.get("task") not in tasks:
                raise MetadataError(f"{path}: {section}[{i}]: task must be one of {sorted(tasks)}")
            for f, (lo, hi) in fields.items():
                v = row.get(f)
                if v is None and f in nullable:
                    continue
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
                    raise MetadataError(f"{path}: {section}[{i}].{f} must be a number in [{lo}, {hi}], got {v!r}")

    check("humans", {"mean": (0, 100), "sd": (0, 100), "n": (1, 1e6)}, nullable=("sd",))
    check("human_kappa", {"kappa": (-1, 1)})
    check("models", {"best": (0, 100), "median": (0, 100)})
    check("imagenet_pearson", {"r": (-1, 1)})
    return data


def reference_table(ref: dict[str, Any]) -> pd.DataFrame:
    """The reference numbers as one long table (quantity, task, value, source)."""
    rows = [{"quantity": "humans mean (%)", "task": h["task"], "value": h["mean"], "sd": h.get("sd"), "n": h["n"]}
            for h in ref["humans"]]
    rows += [{"quantity": "human-human kappa", "task": k["task"], "value": k["kappa"]} for k in ref["human_kappa"]]
    for m in ref["models"]:
        rows += [{"quantity": f"{m['group']} best (%)", "task": m["task"], "value": m["best"]},
                 {"quantity": f"{m['group']} median (%)", "task": m["task"], "value": m["median"]}]
    rows += [{"quantity": f"Pearson r with ImageNet top-1 ({c['group']})", "task": c["task"], "value": c["r"]}
             for c in ref["imagenet_pearson"]]
    out = pd.DataFrame(rows)
    out["source"] = ref["stimulus_set"]
    return out


def human_band(ref: dict[str, Any], task: str, split: str) -> tuple[float, float, float] | None:
    """(mean, low, high) as fractions for a (task, split) panel: VPT-strategy on sweeps,
    VPT-basic or depth elsewhere; mean +- 1 SD where an SD is given."""
    key = "vpt_strategy" if task == "vpt" and split == "sweep" else task
    for h in ref["humans"]:
        if h["task"] == key:
            sd = h.get("sd") or 0.0
            return h["mean"] / 100, (h["mean"] - sd) / 100, (h["mean"] + sd) / 100
    return None

