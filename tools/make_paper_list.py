"""Write evaluation/models/paper.yaml: a paper-scale list of timm models with metadata.

    .venv/bin/python tools/make_paper_list.py RESULTS_IMAGENET_CSV [--commit SHA]

RESULTS_IMAGENET_CSV is timm's ``results/results-imagenet.csv`` (in the pytorch-image-models
repository, not in the wheel). The list holds, for every architecture with released weights in
the installed timm whose ImageNet-1k results are in the CSV, the one weight tag with the best
top-1 at a test size of at most 224 px and at most 90 M parameters; and, without a top-1 (no
ImageNet-1k classifier), the self-supervised and image-text encoders of :data:`NO_CLASSIFIER`.
Family, training data and objective are read off the model name and weight tag by the rules
below (a rule-based reading of timm's naming, not a hand check of each model). Names already
in another list of ``evaluation/models/`` are left out (a name may appear in one list only).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import pandas as pd
import yaml

MODELS = Path(__file__).resolve().parents[1] / "evaluation" / "models"  # the checkout's model lists
MAX_SIZE, MAX_PARAMS = 224, 90.0

NO_CLASSIFIER = [
    "vit_small_patch16_224.dino", "vit_base_patch16_224.dino", "vit_base_patch8_224.dino",
    "resmlp_12_224.fb_dino", "resmlp_24_224.fb_dino",
    "vit_small_patch14_dinov2.lvd142m", "vit_small_patch14_reg4_dinov2.lvd142m",
    "vit_base_patch14_reg4_dinov2.lvd142m", "vit_large_patch14_dinov2.lvd142m",
    "vit_small_patch16_dinov3.lvd1689m", "vit_base_patch16_dinov3.lvd1689m", "convnext_tiny.dinov3_lvd1689m",
    "vit_base_patch16_224.mae", "vit_large_patch16_224.mae", "hiera_tiny_224.mae", "hiera_small_224.mae",
    "hiera_base_224.mae", "convnextv2_tiny.fcmae", "convnextv2_base.fcmae",
    "eva02_tiny_patch14_224.mim_in22k", "eva02_small_patch14_224.mim_in22k", "eva02_base_patch14_224.mim_in22k",
    "vit_base_patch16_clip_224.openai", "vit_base_patch32_clip_224.openai", "vit_large_patch14_clip_224.openai",
    "vit_base_patch16_clip_224.laion2b", "vit_base_patch32_clip_224.laion2b", "vit_base_patch16_clip_224.datacompxl",
    "vit_base_patch16_clip_224.metaclip_400m", "vit_base_patch16_clip_224.dfn2b",
    "resnet50_clip.openai", "resnet101_clip.openai", "resnet50_clip.yfcc15m", "convnext_base.clip_laion2b",
    "vit_base_patch16_siglip_224.webli", "vit_base_patch16_siglip_224.v2_webli",
    "vit_base_patch16_siglip_256.webli", "vit_large_patch16_siglip_256.webli",
]

# family: first match on the architecture name
FAMILY_RULES = [
    ("mlp", r"^(mixer|resmlp|gmlp)"),
    ("hybrid", r"^(coat|maxvit|maxxvit|levit|convit|mobilevit|efficientformer|fastvit|edgenext|convformer|"
               r"caformer|poolformer|nextvit|tiny_vit|repvit|efficientvit|hgnet|rdnet|mobilenetv4_hybrid|"
               r"vit_.*resnet|vit_small_r26|vit_base_r50|vit_large_r50|crossvit|pit_|twins|gcvit|davit|"
               r"fastvit|inception_next|vitamin|starnet|mambaout|hiera|sam2_hiera|volo|nest_|sequencer|tnt_)"),
    ("vit", r"^(vit|deit|beit|swin|eva|cait|xcit|pvt|flexivit|samvit|naflexvit|mvitv2|focalnet|aimv2)"),
]

DATA_RULES = [  # (pattern on the weight tag, training data)
    (r"laion2b", "LAION-2B"), (r"laion400m|laiona", "LAION-400M"), (r"openai", "WIT-400M"),
    (r"datacomp", "DataComp-1B"), (r"metaclip_400m", "MetaCLIP-400M"), (r"metaclip", "MetaCLIP-2.5B"),
    (r"dfn2b", "DFN-2B"), (r"dfn5b", "DFN-5B"), (r"webli", "WebLI"),
    (r"yfcc15m", "YFCC-15M"), (r"cc12m", "CC12M"), (r"merged2b", "Merged-2B"), (r"lvd1689m", "LVD-1689M"),
    (r"lvd142m", "LVD-142M"), (r"m38m", "Merged-38M"), (r"ssl_yfcc100m|yfcc100m", "YFCC100M"),
    (r"swsl_ig1b|ig1b", "IG-1B"), (r"ig", "IG-3.5B"), (r"seer", "IG-1B (SEER)"), (r"jft", "JFT-300M"),
    (r"in22k|in21k", "ImageNet-22k"), (r"in12k", "ImageNet-12k"),
]

OBJECTIVE_RULES = [
    (r"clip|siglip|openai|laion|webli|datacomp|metaclip|dfn", "image-text contrastive"),
    (r"dinov2|dinov3|dino|lvd", "self-distillation"),
    (r"mae|fcmae|mim|beit", "masked image modelling"),
    (r"swsl", "semi-weakly supervised"), (r"ssl", "semi-supervised"), (r"ig1b_wsl|_wsl|\big\b", "weakly supervised"),
    (r"seer", "self-supervised (SwAV)"), (r"distill|dist_|_dist", "supervised (distilled)"),
    (r"ns_jft|noisy", "semi-supervised (noisy student)"),
]


def family(name: str) -> str:
    arch = name.split(".")[0]
    for fam, pattern in FAMILY_RULES:
        if re.search(pattern, arch):
            return fam
    return "cnn"


def training_data(name: str, finetuned_in1k: bool) -> str:
    tag = name.split(".", 1)[1] if "." in name else ""
    for pattern, data in DATA_RULES:
        if re.search(pattern, tag):
            return f"{data} + ImageNet-1k" if finetuned_in1k and "ImageNet" not in data else data
    return "ImageNet-1k"


def objective(name: str) -> str:
    arch, _, tag = name.partition(".")
    text = f"{arch}.{tag}"
    if arch.startswith("beit") or arch.startswith("eva02") and "mim" in tag:
        return "masked image modelling"
    if re.search(r"_clip|siglip", arch):
        return "image-text contrastive"
    for pattern, obj in OBJECTIVE_RULES:
        if re.search(pattern, tag if pattern not in (r"distill|dist_|_dist",) else text):
            return obj
    return "supervised"


def build(csv: Path) -> list[dict]:
    import timm

    released = set(timm.list_models(pretrained=True))
    df = pd.read_csv(csv)
    df["param_count"] = pd.to_numeric(df["param_count"].astype(str).str.replace(",", ""), errors="coerce")
    df = df[df["model"].isin(released) & (df["img_size"] <= MAX_SIZE) & (df["param_count"] <= MAX_PARAMS)]
    df = df.assign(arch=df["model"].str.split(".").str[0]).sort_values("top1", ascending=False)
    best = df.drop_duplicates("arch").sort_values("model")
    taken = set()
    for other in MODELS.glob("*.yaml"):
        if other.name != "paper.yaml":
            taken |= {m["name"] for m in yaml.safe_load(other.read_text())["models"]}
    rows = [{"name": r.model, "family": family(r.model), "training_data": training_data(r.model, True),
             "objective": objective(r.model), "imagenet_top1": round(float(r.top1), 3)}
            for r in best.itertuples() if r.model not in taken]
    missing = [n for n in NO_CLASSIFIER if n not in released]
    if missing:
        print(f"note: not released in this timm, left out: {missing}", file=sys.stderr)
    rows += [{"name": n, "family": family(n), "training_data": training_data(n, False), "objective": objective(n),
              "imagenet_top1": None} for n in NO_CLASSIFIER if n in released and n not in taken]
    return rows


def write(rows: list[dict], commit: str, out: Path) -> None:
    import timm

    head = (f"# Paper-scale model list: {len(rows)} timm models (written by tools/make_paper_list.py).\n"
            f"# Per architecture with released weights in timm {timm.__version__}, the weight tag with the best\n"
            f"# ImageNet-1k top-1 at <= {MAX_SIZE} px and <= {MAX_PARAMS:g} M parameters, from timm's\n"
            f"# results/results-imagenet.csv (huggingface/pytorch-image-models, commit {commit}); then\n"
            "# self-supervised and image-text encoders without an ImageNet-1k classifier (imagenet_top1: null).\n"
            "# family, training_data and objective are read off the names by the rules in tools/make_paper_list.py.\n"
            "# Keys: name, family, training_data, objective, imagenet_top1 (see default.yaml).\nversion: 1\nmodels:\n")
    lines = []
    for r in rows:
        top1 = "null" if r["imagenet_top1"] is None else f"{r['imagenet_top1']:.3f}"
        lines.append(f"  - {{name: {r['name']}, family: {r['family']}, training_data: {r['training_data']}, "
                     f"objective: {r['objective']}, imagenet_top1: {top1}}}")
    out.write_text(head + "\n".join(lines) + "\n", encoding="utf-8")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("csv", type=Path)
    p.add_argument("--commit", default="unknown", help="the pytorch-image-models commit the CSV comes from")
    p.add_argument("--out", type=Path, default=MODELS / "paper.yaml")
    a = p.parse_args()
    rows = build(a.csv)
    write(rows, a.commit, a.out)
    print(f"wrote {a.out}: {len(rows)} models")
    return 0


if __name__ == "__main__":
    sys.exit(main())
