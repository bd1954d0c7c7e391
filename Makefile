# vpt: two commands take a fresh machine to a result.
#   make scenes   set up .venv with what rendering needs (first time) and render the default
#                 benchmark from scenes/ into data/ (the model images; `make human-set` adds the
#                 512 px renders of the human set and warm-up for the browser experiment)
#   make test     set up .venv with every extra (first time) and run the test suite
#   make test-fast  the same without the slow families (renders, browser, Ray, wheel, slow): the edit-test loop
# Variables: PYTHON (a Python 3.11), SCALE (e.g. paper), PRESET (preview|draft|standard|paper),
#            OUT (output folder), ARGS (extra `vpt scenes` arguments).
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
OUT    ?= data
PRESET ?= standard
SCALE  ?=
ARGS   ?=
STAMP  := $(VENV)/.installed
RENDER_STAMP := $(VENV)/.installed-render

.PHONY: setup scenes human-set bench-scenes plan test test-fast bench bench-vision bench-pretrained bench-render bench-audit bench-pool bench-report bench-human chromium human-assets clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "make: $(PYTHON) not found; vpt needs Python 3.11 (bpy 4.5 wheels exist for 3.11 only). Pass PYTHON=/path/to/python3.11"; exit 2; }
	$(PYTHON) -m venv $(VENV)

# Two installs: rendering only (vpt and Blender's bpy: what `make scenes` and `make plan` need),
# and everything (the evaluators' torch, Ray, the model SDKs, the web server, the test tools).
$(RENDER_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[render]'
	@touch $(RENDER_STAMP)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[render,test,human,vlm,eval,weights,cluster,docs]'
	@touch $(STAMP) $(RENDER_STAMP)

setup: $(STAMP)

scenes: $(RENDER_STAMP)
	$(BIN)/vpt scenes scenes --out $(OUT) --preset $(PRESET) $(if $(SCALE),--scale $(SCALE)) $(ARGS)

# The human set and the warm-up also at the recipe's human_resolution (512 px) for `vpt human`,
# for every recipe in scenes/ (the conflict set's human pairs too: a study mixes them in);
# renders only what `make scenes` has not (docs/rendering.md#where-the-time-goes).
human-set: $(RENDER_STAMP)
	$(BIN)/vpt scenes scenes --out $(OUT) --preset $(PRESET) --human-renders $(if $(SCALE),--scale $(SCALE)) $(ARGS)

plan: $(RENDER_STAMP)
	$(BIN)/vpt scenes scenes --out $(OUT) --plan-only $(if $(SCALE),--scale $(SCALE)) $(ARGS)

# The report's browser test drives Debian's chromium through Playwright (never a downloaded
# browser); install it when it is missing (root or sudo). If apt-get cannot, that test skips.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  echo "make: installing chromium with apt-get (for the report's browser test)"; \
	  $$SUDO apt-get install -y -qq chromium >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; } || \
	  echo "make: could not install chromium; the report's browser test will be skipped"; }

# The human experiment's page runs jsPsych 8 from npm, pinned by the lockfile in
# vpt/deciders/human/web and served from the package (never a CDN): npm ci, then copy the
# browser builds into vpt/deciders/human/static/vendor. Without npm the browser tests skip.
HUMAN_WEB    := vpt/deciders/human/web
HUMAN_VENDOR := vpt/deciders/human/static/vendor
$(HUMAN_VENDOR)/jspsych.js: $(HUMAN_WEB)/package-lock.json
	@if ! command -v npm >/dev/null 2>&1; then \
	  echo "make: npm not found; install Node.js and npm (apt-get install npm) for the human experiment's jsPsych files; its tests will be skipped"; \
	elif ! (cd $(HUMAN_WEB) && npm ci --silent --no-audit --no-fund); then \
	  echo "make: npm ci failed in $(HUMAN_WEB) (offline?); the human experiment's tests will be skipped"; \
	else mkdir -p $(HUMAN_VENDOR) && \
	  cp $(HUMAN_WEB)/node_modules/jspsych/dist/index.browser.min.js $(HUMAN_VENDOR)/jspsych.js && \
	  cp $(HUMAN_WEB)/node_modules/jspsych/css/jspsych.css $(HUMAN_VENDOR)/jspsych.css && \
	  for p in html-button-response instructions preload; do \
	    cp $(HUMAN_WEB)/node_modules/@jspsych/plugin-$$p/dist/index.browser.min.js $(HUMAN_VENDOR)/plugin-$$p.js; done; fi

human-assets: $(HUMAN_VENDOR)/jspsych.js

test: $(STAMP) chromium human-assets
	$(BIN)/python -m pytest -q

# The edit-test loop: everything but the slow families (markers declared in pyproject.toml).
test-fast: $(STAMP) chromium human-assets
	$(BIN)/python -m pytest -q -n 2 --dist loadscope -m "not (render or browser or ray or wheel or slow)"

# Candidate scenes sampled and labelled per second on one core (the default recipe).
# Sampling and labelling speed on one core, then `vpt scenes depth-vpt --plan-only` timed (plan,
# files, plan-time audit), its peak memory and its audit's figures; SCALE=paper for the paper
# size, BEFORE=<another checkout> to print that checkout's figures beside these.
bench: $(RENDER_STAMP)
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $(BIN)/python benchmarks/plan_speed.py --sizes 64,128,256
	$(BIN)/python benchmarks/plan_time.py $(if $(SCALE),--scale $(SCALE)) $(if $(BEFORE),--before $(BEFORE))

# Feature extraction against a bare forward pass, and a cached re-probe of 1,000 images, with
# tf_efficientnet_lite0 (packaged weights); real features of $(OUT)/depth-vpt once it is rendered.
# Writes a dated record to benchmarks/results/.
bench-vision: $(STAMP)
	$(BIN)/python benchmarks/record.py vision-speed -- $(BIN)/python benchmarks/vision_speed.py \
	  --models tf_efficientnet_lite0 $(if $(wildcard $(OUT)/depth-vpt/index.parquet),--dataset $(OUT)/depth-vpt)

# The 3D-PC experiments on the packaged ImageNet models and their random-init twins
# (benchmarks/pretrained.sh: probes, per-layer probes, fine-tuning, attribution, the report) on
# $(OUT)/depth-vpt, into results/pretrained; a dated record in benchmarks/results/.
bench-pretrained: $(STAMP)
	$(BIN)/python benchmarks/record.py pretrained --env EPOCHS,LIMIT -- benchmarks/pretrained.sh $(OUT)/depth-vpt results/pretrained

# Render speed against quality (every candidate setting and a 1,024-sample reference on 24
# scenes; references cached in .bench/reference), throughput per preset on scenes planned
# from the default recipe (one worker on all cores, then two of one thread each), where one
# image's time goes (render_profile.py), and worker memory over 500 renders in one unrecycled process.
BENCH_SPECS := .bench/depth-vpt/scenes/train
# Where the time of `make scenes` goes (install, plan, audit, 256 px and 512 px renders,
# sweeps, files), from a fresh clone of HEAD into a temporary folder; a dated record.
bench-scenes:
	$(PYTHON) benchmarks/record.py scenes-time -- $(PYTHON) benchmarks/scenes_time.py --fresh-clone --python $(PYTHON) --preset $(PRESET)
bench-render: $(RENDER_STAMP)
	$(BIN)/vpt scenes scenes/depth-vpt.yaml --out .bench --plan-only --quiet
	$(BIN)/python benchmarks/render_quality.py --specs $(BENCH_SPECS) -n 24 --json .bench/quality.json
	$(BIN)/python benchmarks/render_speed.py --specs $(BENCH_SPECS) --preset preview -n 24
	$(BIN)/python benchmarks/render_speed.py --specs $(BENCH_SPECS) --preset standard -n 24
	$(BIN)/python benchmarks/render_speed.py --specs $(BENCH_SPECS) --preset standard -n 24 --workers 2 --threads 1
	$(BIN)/python benchmarks/render_profile.py --specs $(BENCH_SPECS) -n 20 --presets standard draft
	$(BIN)/python benchmarks/render_speed.py --specs $(BENCH_SPECS) --preset paper -n 4
	$(BIN)/python benchmarks/render_speed.py --specs $(BENCH_SPECS) --preset preview -n 500 --recycle-every 1000

# What a larger candidate pool buys matched selection (docs/counterbalancing.md): train and
# test planned at 3x the default size, audited after selection from pools of 1, 2, 3 and 6.
# The shortcut audit's two paths (scikit-learn pipelines as before, and the batched numpy fits)
# on the same cue table: the default plan, and the pixels of $(OUT)/depth-vpt once rendered.
bench-audit: $(RENDER_STAMP)
	$(BIN)/python benchmarks/record.py audit-speed -- $(BIN)/python benchmarks/audit_speed.py \
	  $(if $(wildcard $(OUT)/depth-vpt/index.parquet),--dataset $(OUT)/depth-vpt)

bench-pool: $(RENDER_STAMP)
	$(BIN)/python benchmarks/pool_size.py --times 3

# The full report from a synthetic 3D-PC-sized trial table (350 decision makers, ~2.1 M rows,
# 1,000 bootstrap resamples); prints its time.
bench-report: $(RENDER_STAMP)
	$(BIN)/python benchmarks/report_speed.py

# The human experiment's server under load on loopback: 50 participants at once, 100 trials
# each, 10 % of the answers sent twice; checks every answer is stored once and prints the
# median and 99th-percentile response times.
bench-human: $(STAMP) human-assets
	$(BIN)/python benchmarks/human_load.py --participants 50 --trials 100

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .hypothesis .bench

# The documentation site (the docs extra, which make setup installs).
# make docs: build it strictly into site/; make docs SERVE=1: serve it at http://127.0.0.1:8000.
SERVE ?=
.PHONY: docs
docs: $(STAMP)
	$(if $(SERVE),$(BIN)/python -m mkdocs serve,$(BIN)/python -m mkdocs build --strict --site-dir site)
