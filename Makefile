# newsrec: every front door of the project. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
STAMP  := $(VENV)/.newsrec-installed
SYSPY  := $(shell command -v python3)
export PATH := $(BIN):$(PATH)
# no telemetry from the Prefect server (its heartbeat was also the source of "database is
# locked" tracebacks in ephemeral mode)
export PREFECT_SERVER_ANALYTICS_ENABLED := false
# uv: the one on PATH, else the copy `make install` puts in a user site
UV     := $(shell command -v uv 2>/dev/null || echo "$(SYSPY) -m uv")
PYTEST_ARGS ?=

SOURCE ?=
MIND_DIR ?=

HOST ?= 127.0.0.1
PORT ?= 3000
REQUESTS ?= 500
SCENARIO ?=
# flows report to the Prefect server when `make ui` is up; otherwise they run in ephemeral mode
PREFECT_URL := http://127.0.0.1:4200/api
FLOW = if curl -sf $(PREFECT_URL)/health >/dev/null 2>&1; then export PREFECT_API_URL=$(PREFECT_URL); fi; python -m

.PHONY: help install data validate features train evaluate promote rollback package serve traffic monitor \
	pipeline deploy monitoring simulate ui down deployments demo test test-full bench clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

install: $(STAMP) ## build .venv from uv.lock (installs uv if missing; does nothing when up to date)

$(STAMP): pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || $(SYSPY) -m uv --version >/dev/null 2>&1 || { \
	  echo "installing uv from PyPI"; $(SYSPY) -m pip install --quiet --user uv; }
	$(UV) sync --locked --python 3.11
	@touch $@

data: install ## ingest + validate: simulated news, or SOURCE=mind MIND_DIR=<dir> for real MIND files
	@if [ -n "$(SOURCE)" ]; then newsrec use-source $(SOURCE) $(MIND_DIR); fi
	dvc repro validate
	@dvc push -q || echo "note: dvc push to the default remote failed; data stays in the local cache"

validate: install ## run the Great Expectations data contracts (re-runs only what changed)
	dvc repro validate
	@python -m newsrec.report validation

features: install ## point-in-time feature tables, then feast apply + materialize to the online store
	dvc repro feast

train: install ## Feast training set, then fit + log to MLflow + register as `challenger`
	dvc repro train

evaluate: install ## MIND metrics of the challenger vs baselines, oracle (simulated data) and champion
	dvc repro evaluate

promote: install ## the gate: challenger -> `champion` if it wins; tags and a model card either way
	dvc repro promote

rollback: install ## move `champion` back to the previous champion
	newsrec rollback

package: install ## import models:/newsrec-ranker@champion into BentoML and build the Bento
	NEWSREC_UV="$(UV)" newsrec package

serve: install ## the recommendation service on HOST:PORT (default 127.0.0.1:3000)
	newsrec package --no-build
	bentoml serve services.recommender:Recommender --host $(HOST) --port $(PORT)

traffic: install ## replay REQUESTS labeled impressions of the last day against the running service
	newsrec traffic --requests $(REQUESTS)

monitor: install ## Evidently reports on the latest log window, then the drift gate (no trigger)
	newsrec monitor

pipeline: install ## the training flow in Prefect: every DVC stage as a task, data to promotion
	$(FLOW) flows.training

deploy: install ## the deploy flow: package the champion, (re)start the service in the background
	$(FLOW) flows.serving

monitoring: install ## the monitoring flow: report, gate, and on drift emit the retraining event
	$(FLOW) flows.monitoring

simulate: install ## simulated days with a news shock, three retraining policies (SCENARIO=none: no shift)
	$(FLOW) flows.simulate $(SCENARIO)

ui: install ## start the Prefect, MLflow and Evidently UIs on 127.0.0.1 and print their addresses
	newsrec ui

down: ## stop the UIs and the background service
	newsrec down

deployments: install ## serve the deployments (daily monitoring, retrain on drift); needs `make ui`
	PREFECT_API_URL=$(PREFECT_URL) python -m flows.deployments

demo: install ## the whole lifecycle: data .. gate, package + serve, replayed traffic, a monitoring report
	@if [ -n "$(SOURCE)" ]; then newsrec use-source $(SOURCE) $(MIND_DIR); fi
	$(FLOW) flows.training
	@dvc push -q || echo "note: dvc push to the default remote failed; data stays in the local cache"
	$(FLOW) flows.serving
	newsrec traffic --requests $(REQUESTS); status=$$?; newsrec down serve; exit $$status
	newsrec monitor --end traffic
	@python -m newsrec.report demo

test: install ## the fast test suite
	python -m pytest -m "not slow" $(PYTEST_ARGS)

test-full: install ## every test, the slow end-to-end ones too
	python -m pytest $(PYTEST_ARGS)

bench: install ## benchmarks (ratios in one run): simulator, ingest+validate, training set, training, serving, monitoring, simulated days
	python bench/simulator.py
	python bench/ingest_validate.py
	python bench/trainset.py
	dvc repro trainset && python bench/train.py
	dvc repro promote && newsrec package --no-build && python bench/serve.py
	python bench/monitor.py
	python bench/simulate.py

clean: ## remove generated data and reports (keeps .venv and the DVC cache)
	rm -rf data reports
