# newsrec: every front door of the project. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
STAMP  := $(VENV)/.newsrec-installed
# the system's python3, not the project's own (an activated .venv has no pip and no uv)
SYSPY  := $(shell PATH="$$(printf %s "$$PATH" | tr : '\n' | grep -vxF '$(CURDIR)/$(VENV)/bin' | paste -sd: -)" command -v python3)
export PATH := $(BIN):$(PATH)
# no telemetry from the Prefect server (its heartbeat was also the source of "database is
# locked" tracebacks in ephemeral mode)
export PREFECT_SERVER_ANALYTICS_ENABLED := false
# the ephemeral API server gets 20 s to start by default; a busy 2-core machine needs more
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 120
# uv: the one on PATH, else the copy `make install` puts in a user site
UV     := $(shell command -v uv 2>/dev/null || echo "$(SYSPY) -m uv")
# the uv that `newsrec package` exports the lock's pins and builds the wheel with (tests too)
export NEWSREC_UV := $(UV)
PYTEST_ARGS ?=
# pytest-xdist workers for the test targets; the tests sharing the trained project stay on one.
# loadgroup: a module marked xdist_group runs on one worker, so its module fixture is built once
TEST_WORKERS ?= 2
XDIST := -n $(TEST_WORKERS) --dist loadgroup

# PROFILE=prod: the real servers of `make up` (addresses from the environment, see README)
PROFILE ?=
ifneq ($(PROFILE),)
export NEWSREC_PROFILE := $(PROFILE)
endif

SOURCE ?=
MIND_DIR ?=

# the service's address is params.yaml serve.host/serve.port; HOST= and PORT= override it for `make serve`
HOST ?=
PORT ?=
DAYS ?= 1
SCENARIO ?=
FROM ?=
SHOCK_DAY ?=
# flows report to the Prefect server when `make ui` is up; otherwise they run in ephemeral mode
PREFECT_URL := http://127.0.0.1:4200/api
FLOW = if curl -sf $(PREFECT_URL)/health >/dev/null 2>&1; then export PREFECT_API_URL=$(PREFECT_URL); fi; python -m
# one pipeline run at a time in a project: a second says who holds it and waits (flows.pipeline
# and flows.retrain take the same lock themselves)
LOCKED = newsrec locked --
# the prod profile pushes to the S3 remote (`make up` points it at the S3 endpoint)
PUSH = remote=$$([ "$$NEWSREC_PROFILE" = prod ] && echo s3 || echo local); dvc push -q -r $$remote || \
	echo "note: dvc push to the $$remote remote failed; data stays in the local cache"

.PHONY: help install data validate features train evaluate promote rollback package canvas ablation image serve traffic monitor \
	pipeline deploy simulate loop ui up down deployments demo lint test-fast test test-full bench clean monitoring

# Each target names the command it runs; `newsrec <stage>` is newsrec.stages.<stage>.<stage>()
# and `python -m flows.<name>` is the Prefect flow <name>.

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

install: $(STAMP) ## build .venv from uv.lock (installs uv if missing; does nothing when up to date)

$(STAMP): pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || $(SYSPY) -m uv --version >/dev/null 2>&1 || { \
	  echo "installing uv from PyPI"; $(SYSPY) -m pip install --quiet --user uv; }
	$(UV) sync --locked --python 3.11 --compile-bytecode
	@touch $@

data: install ## stages world, ingest, validate: simulated news, or SOURCE=mind MIND_DIR=<dir> for real MIND files
	@if [ -n "$(SOURCE)" ]; then $(LOCKED) newsrec source $(SOURCE) $(MIND_DIR); fi
	$(LOCKED) dvc repro validate
	@$(PUSH)

validate: install ## stage validate: the Great Expectations data contracts (re-runs only what changed)
	$(LOCKED) dvc repro validate
	@python -m newsrec.summary validate

features: install ## stages features, feast: point-in-time feature tables, feast apply + materialize
	$(LOCKED) dvc repro feast

train: install ## stages trainset, train: Feast training set, fit + log to MLflow + register as `challenger`
	$(LOCKED) dvc repro train

evaluate: install ## stage evaluate: MIND metrics of the challenger vs baselines, oracle (simulated data) and champion
	$(LOCKED) dvc repro evaluate

promote: install ## stage promote: the gate; challenger -> `champion` if it wins; tags and a model card either way
	$(LOCKED) dvc repro promote

rollback: install ## newsrec rollback: `champion` back to the previous champion, swapped into a running service
	newsrec rollback

package: install ## newsrec package: import models:/newsrec-ranker@champion into BentoML and build the Bento
	newsrec package

ablation: install ## newsrec ablation (not part of the pipeline): the test nDCG@10 without each feature group, and the training objectives compared (scikit-learn's against LightGBM's lambdarank and others); reports/ablation.json and .png, the model card's table
	dvc repro trainset && newsrec ablation

canvas: install ## newsrec canvas: the ML canvas, reports/canvas.md (docs/canvas.yaml's words next to the project's numbers), logged to the champion's MLflow run
	newsrec canvas

image: install ## newsrec image: package, then `bentoml containerize` where `docker info` works; elsewhere the Bento's Dockerfile and why
	newsrec image

serve: install ## newsrec serve: the recommendation service on params serve.host:serve.port (HOST=, PORT= override)
	newsrec package --no-build
	newsrec serve $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT)) $(if $(ALLOW_WITHOUT_KEY),--allow-without-key)

traffic: install ## newsrec traffic: DAYS (1) live days of simulated readers against the running service, the store moving forward
	newsrec traffic --days $(DAYS)

pipeline: install ## flow pipeline: every DVC stage as a Prefect task, data to promotion
	$(FLOW) flows.pipeline

deploy: install ## flow deploy: package the champion; a running service swaps to it (no restart), else one starts
	$(FLOW) flows.deploy

monitor: install ## flow monitor: Evidently reports on the latest log window, the drift gate, on drift the retraining event (FROM=YYYY-MM-DD: every day since, a task per day)
	$(FLOW) flows.monitor $(if $(FROM),--from $(FROM))

monitoring: monitor ## (old name of `make monitor`, kept for one release)

loop: install ## flow loop: DAYS (simulate.days) live days of SCENARIO (simulate.scenario; shock = interest_shock) from SHOCK_DAY through the real stack, in loop/
	newsrec ui prefect
	PREFECT_API_URL=$(PREFECT_URL) python -m flows.loop "$(if $(filter command line,$(origin DAYS)),$(DAYS))" \
		"$(if $(filter shock,$(SCENARIO)),interest_shock,$(SCENARIO))" "$(SHOCK_DAY)"
	@python -m newsrec.summary loop

simulate: install ## flow simulate: simulated days with a news shock, three retraining policies (SCENARIO=none: no shift)
	$(FLOW) flows.simulate $(SCENARIO)

ui: install ## newsrec ui: the Prefect, MLflow and Evidently UIs on 127.0.0.1, and their addresses
	newsrec ui

up: install ## newsrec up: the prod profile's servers here (PostgreSQL, Redis, S3 stand-in, MLflow, Prefect, Prometheus) and their addresses
	newsrec up

down: ## newsrec down: stop the UIs, the background service and the servers `make up` started
	newsrec down

deployments: install ## the deployments (daily monitor, retrain on drift, manual deploy); needs `make ui`
	PREFECT_API_URL=$(PREFECT_URL) python -m flows.deployments

demo: install ## the whole lifecycle: pipeline, deploy, a live day of readers, monitoring, a summary ending KEEP or DRIFT (SCENARIO=shock: `make loop`, 2 live days, a shock on the second: drift -> retrain -> a new version served)
	@if [ -n "$(SOURCE)" ]; then newsrec source $(SOURCE) $(MIND_DIR); fi
ifneq ($(filter-out none,$(SCENARIO)),)
	$(MAKE) --no-print-directory loop DAYS=2 SHOCK_DAY=1 SCENARIO=$(SCENARIO)
else
	$(FLOW) flows.pipeline
	@$(PUSH)
	$(FLOW) flows.deploy
	newsrec traffic --days 1; status=$$?; newsrec down serve; exit $$status
	newsrec monitor --end traffic
	newsrec canvas
	@python -m newsrec.summary demo
endif

lint: install ## ruff check, ruff format --check, and actionlint on the hosted-CI workflow
	ruff check .
	ruff format --check .
	actionlint .github/workflows/ci.yml

test-fast: install ## unit and data-contract tests (under a minute, on both cores): the inner loop
	python -m pytest tests/unit tests/data -m "not slow" $(XDIST) $(PYTEST_ARGS)

test: install lint ## the README's test command (what CI runs): lint, then every test but the slow ones
	python -m pytest -m "not slow" $(XDIST) $(PYTEST_ARGS)

test-full: install ## every test, the slow end-to-end ones too
	python -m pytest $(XDIST) $(PYTEST_ARGS)

bench: install ## benchmarks (ratios in one run): world, ingest+validate, training set, training, serving, the shedding rule on a queue model, online reads (Redis vs SQLite), monitoring, simulated days, recovery across worlds, live days, scale-out on Dask
	python bench/world.py
	python bench/ingest_validate.py
	python bench/trainset.py
	dvc repro trainset && python bench/train.py
	dvc repro promote && newsrec package --no-build && python bench/serve.py
	python bench/shedding.py
	python bench/online.py
	python bench/monitor.py
	python bench/simulate.py
	python bench/recovery.py
	python bench/loop.py
	python bench/scale.py

clean: ## remove generated data and reports; keeps .venv, the DVC cache, logged traffic (data/predictions*, data/outcomes) and your MIND copy (data/raw/mind): ALL=1 removes those too
	@if [ -n "$(ALL)" ]; then rm -rf data reports; echo "removed data/ and reports/"; else \
	  rm -rf reports; \
	  if [ -d data ]; then find data -mindepth 1 -maxdepth 1 ! -name predictions ! -name predictions.quarantine ! -name outcomes ! -name raw -exec rm -rf {} +; fi; \
	  if [ -d data/raw ]; then find data/raw -mindepth 1 -maxdepth 1 ! -name mind -exec rm -rf {} +; fi; \
	  echo "removed the generated data and reports/; kept what is there of data/predictions, data/outcomes, data/raw/mind (make clean ALL=1 removes them)"; fi
