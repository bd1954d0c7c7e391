#!/bin/bash
# Render a small depth-vpt recipe (train 16, test 8; human set 4, warm-up 2; pool 2) with the
# `draft` and the `standard` preset into .bench/preset-check, run `vpt verify` on each, and
# compare them: masks and labels must be identical (docs/rendering.md, "The quality floor").
#   benchmarks/preset_check.sh [PYTHON]      (default: .venv/bin/python)
set -euo pipefail
PY="${1:-.venv/bin/python}"
OUT=.bench/preset-check
mkdir -p "$OUT"
"$PY" - "$OUT" <<'PY'
import sys, yaml
from vpt.resources import recipes_dir  # noqa: F401  (vpt importable)
d = yaml.safe_load(open("scenes/depth-vpt.yaml"))
d.update(name="mini", splits={"train": 16, "val": 0, "test": 8, "ood": 0}, human_set=4, warmup=2)
d["balance"]["pool"] = 2
yaml.safe_dump(d, open(f"{sys.argv[1]}/mini.yaml", "w"))
PY
VPT=("$PY" -c "import sys; from vpt.cli import main; sys.exit(main(sys.argv[1:]))")
for preset in draft standard; do
  rm -rf "${OUT:?}/$preset"
  start=$(date +%s.%N)
  "${VPT[@]}" scenes "$OUT/mini.yaml" --out "$OUT/$preset" --preset $preset --quiet
  echo "$preset: vpt scenes took $(echo "$(date +%s.%N) - $start" | bc) s; load $(cut -d' ' -f1 /proc/loadavg)"
  cat "$OUT/$preset/mini/timings.json"
  "${VPT[@]}" verify "$OUT/$preset/mini" --sample 6 --quiet && echo "$preset: vpt verify passed"
done
"$PY" - "$OUT" <<'PY'
import json, pathlib, statistics, sys
a, b = (pathlib.Path(sys.argv[1]) / p / "mini" / "scenes" for p in ("draft", "standard"))
same = diff = 0
t = {"draft": [], "standard": []}
for f in sorted(a.rglob("*.json")):
    ra, rb = json.loads(f.read_text()), json.loads((b / f.relative_to(a)).read_text())
    same += ra["files"]["mask"]["sha256"] == rb["files"]["mask"]["sha256"]
    diff += ra["files"]["mask"]["sha256"] != rb["files"]["mask"]["sha256"]
    assert ra["labels"] == rb["labels"], f.name
    t["draft"].append(ra["render"]["timings"]["render"])
    t["standard"].append(rb["render"]["timings"]["render"])
print(f"{same + diff} stimuli: masks identical between draft and standard {same}, different {diff}; labels identical")
print("median seconds in Blender's render call per image: "
      + ", ".join(f"{k} {statistics.median(v):.2f}" for k, v in t.items()))
PY
