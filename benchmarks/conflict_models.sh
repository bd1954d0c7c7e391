#!/usr/bin/env bash
# Vision models trained on a basic benchmark, scored on its test split and on the conflict set
# beside it (issue 26): the shortcut baselines for reference (vpt baseline), the ImageNet lite0
# linear probe on its pooled penultimate features and on every layer (the best layer is chosen
# on the basic val split by conflict_models.py), the random-init lite0 twin as the control (the
# same layers), and the from-scratch ResNet-10t at the small size the docs use on a CPU
# (vpt train --input-size SIZE --epochs EPOCHS). Every command finds the conflict set beside
# DATA itself (a sibling folder whose index is a conflict set), as the audit does; the report
# (OUT/report) shows its splits as sets of their own (`test · conflict`).
# Usage: benchmarks/conflict_models.sh [DATA] [OUT]
#   DATA  a rendered basic benchmark with a rendered conflict set beside it (default data/depth-vpt,
#         beside data/conflict: what `make scenes` writes)
#   OUT   the results folder (default results/conflict-models); finished runs are kept on a rerun
# Environment: EPOCHS (default 20), SIZE (input px of the from-scratch network, default 64),
#   VPT (the vpt command, default .venv/bin/vpt), PY (default .venv/bin/python).
# Record a run with:
#   .venv/bin/python benchmarks/record.py conflict-models -- benchmarks/conflict_models.sh DATA OUT
set -euo pipefail
DATA=${1:-data/depth-vpt}
OUT=${2:-results/conflict-models}
EPOCHS=${EPOCHS:-20}
SIZE=${SIZE:-64}
VPT=${VPT:-.venv/bin/vpt}
PY=${PY:-.venv/bin/python}
LAYERS=blocks.0,blocks.1,blocks.2,blocks.3,blocks.4,blocks.5,blocks.6,bn2
export HF_HUB_OFFLINE=1
step() { echo; echo "== $(date -u +%H:%M:%S) $*"; }

step "shortcut baselines";              $VPT baseline "$DATA" --out "$OUT" --quiet
step "lite0 probe, ImageNet";           $VPT probe "$DATA" --models tf_efficientnet_lite0 --out "$OUT" --quiet
step "lite0 per-layer probes, ImageNet"; $VPT probe "$DATA" --models tf_efficientnet_lite0 --layer $LAYERS \
                                          --out "$OUT" --quiet
step "lite0 probe, random init";        $VPT probe "$DATA" --models tf_efficientnet_lite0 --random-init \
                                          --out "$OUT" --quiet
step "lite0 per-layer probes, random init"; $VPT probe "$DATA" --models tf_efficientnet_lite0 --random-init \
                                          --layer $LAYERS --out "$OUT" --quiet
step "from scratch: resnet10t, ${SIZE} px, ${EPOCHS} epochs"
$VPT train "$DATA" --models resnet10t --input-size "$SIZE" --epochs "$EPOCHS" --out "$OUT" --quiet
step "basic test against conflict test"; $PY "$(dirname "$0")/conflict_models.py" "$OUT" --train "$DATA"
step "report";                          $VPT report "$OUT" --out "$OUT/report"
step "done"
