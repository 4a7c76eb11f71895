# SmartCourse: the two commands are `make run` and `make test`. Everything else is a helper.
SHELL := /bin/bash
export SAM_CLI_TELEMETRY := 0
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
REQS := requirements/dev.txt requirements/dev-ai.txt requirements/constraints.txt shared/requirements.txt $(wildcard functions/*/requirements.txt)
SAM_VENV := .cache/sam-venv
FUNCTIONS := $(patsubst functions/%/,%,$(wildcard functions/*/))
export PYTHONPATH := shared:.
PYTEST_ARGS ?=

.PHONY: browser deploy-web bundle-size install run stack test test-unit test-integration lint typecheck bench eval clean-data kafka-jars help analytics-sql

# Every target says what it does after `## ` on its rule line; `make help` prints those, one per target
# (tests/unit/foundation/test_makefile_help.py fails when a target has none).
help: ## this list (`make run` and `make test` are the two commands; the rest are helpers)
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | \
	  sed -E 's/^([a-zA-Z0-9_-]+):.*## (.*)$$/\1\t\2/' | awk -F'\t' '{ printf "make %-16s - %s\n", $$1, $$2 }'

$(STAMP): $(REQS)
	@command -v $(PY) >/dev/null || { echo "make: $(PY) is required (Python 3.11, the Lambda runtime)"; exit 1; }
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements/dev.txt -c requirements/constraints.txt
	@touch $@

kafka-jars: $(STAMP) ## fetch (once) the Kafka jars the local stack runs, into .cache/
	@$(BIN)/python -c "from devstack.kafka import ensure_kafka_jars; from devstack.stack import CACHE_DIR; print('kafka jars:', ensure_kafka_jars(CACHE_DIR / 'kafka'))"

install: $(STAMP) kafka-jars ## the .venv (requirements/dev.txt, constraints) and the Kafka jars

run: install ## install, start postgres+kafka+moto, serve the API on :8000 and the web app on :8080, drive every trigger
	$(BIN)/python -m devstack run $(RUN_ARGS)

stack: install ## start postgres+kafka+moto only, until Ctrl-C (tests reuse it)
	$(BIN)/python -m devstack stack

test: install browser ## install, then every test under tests/ (they start their own services)
	$(BIN)/python -m pytest tests $(PYTEST_ARGS)

# Debian's chromium + chromedriver for the browser tests (tests/browser drives it with Playwright;
# no browser is ever downloaded by Playwright itself).
browser: ## Debian's chromium + chromedriver for tests/browser (apt-get, once)
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; else \
	  echo "make browser: /usr/bin/chromium is missing; run as root or install sudo, or: apt-get install chromium chromium-driver"; exit 1; fi; \
	echo "installing Debian's chromium and chromium-driver (apt-get)"; \
	$$SUDO apt-get update -q && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium chromium-driver

# The web app to the stack's bucket + CloudFront, after `sam deploy` (needs AWS credentials).
deploy-web: ## the web app to the stack's bucket + CloudFront (STACK_NAME=..., AWS credentials)
	@test -n "$(STACK_NAME)" || { echo "usage: make deploy-web STACK_NAME=smartcourse-dev [AWS_REGION=us-east-1]"; exit 1; }
	scripts/deploy_web.sh $(STACK_NAME) $(AWS_REGION)

test-unit: $(STAMP) ## tests/unit only (no services)
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

test-integration: install ## tests/integration and tests/e2e
	$(BIN)/python -m pytest tests/integration tests/e2e $(PYTEST_ARGS)

$(SAM_VENV)/bin/sam:
	$(PY) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install -q --disable-pip-version-check aws-sam-cli==1.170.0

typecheck: $(STAMP) ## mypy over shared/smartcourse, devstack, testkit and each function
	$(BIN)/mypy shared/smartcourse devstack testkit
	@for f in $(FUNCTIONS); do echo "mypy functions/$$f"; (cd functions/$$f && MYPYPATH=../../shared ../../$(BIN)/mypy --config-file ../../pyproject.toml .) || exit 1; done

lint: $(STAMP) $(SAM_VENV)/bin/sam ## ruff, mypy, cfn-lint and sam validate --lint
	$(BIN)/ruff check .
	$(MAKE) --no-print-directory typecheck
	$(BIN)/cfn-lint template.yaml
	AWS_DEFAULT_REGION=us-east-1 $(SAM_VENV)/bin/sam validate --lint --template template.yaml

bench: install ## run bench/ and rewrite docs/benchmarks.md
	$(BIN)/python -m bench

# Concurrent learners through the local gateway, then the outbox must drain (issue 8 part 5):
# make load LOAD_ARGS="--duration 60 --clients 8"   (default 180 s, 16 clients; writes docs/benchmarks.md)
LOAD_ARGS ?=
.PHONY: load
load: install ## concurrent learners through the gateway for 3 min (LOAD_ARGS="--duration S --clients N")
	$(BIN)/python -m bench.bench_load $(LOAD_ARGS)

# The capacity model of docs/scaling.md checked by simulation (issue 19): calibrates the queueing model
# (bench/capacity_model.py) on this machine, drives the local stack at 0.25, 0.5, 0.8 and 1.2 x its predicted
# capacity (open-loop arrivals, 30 s each) and rewrites the measured section of docs/scaling.md. About 4 min.
# make capacity CAPACITY_ARGS="--window 20 --rates 0.5,1.2 --no-doc"
CAPACITY_ARGS ?=
.PHONY: capacity
capacity: install ## capacity model vs the local stack at 4 rates; rewrites docs/scaling.md's measured section
	$(BIN)/python -m bench.capacity $(CAPACITY_ARGS)

eval: install ## the course assistant on fixed dev sets; rewrites docs/evaluation.md
	$(BIN)/python -m bench.eval_assistant

# Fault injection over the real system on a PRIVATE stack (issue 8, tests/chaos): >= 10,000 events,
# >= 300 uploads, every fault; prints the counts, fails on any loss or double effect.
# Smaller: make chaos CHAOS_ARGS="--events 2000 --uploads 40"
.PHONY: chaos
CHAOS_ARGS ?=
chaos: install ## fault injection on a private stack (CHAOS_ARGS="--events N --uploads N")
	$(BIN)/python -m tests.chaos $(CHAOS_ARGS)

# SQL over the local event lake (docs/lake.md): syncs the lake bucket's Parquet from moto into
# .data/lake-cache/ and runs Q with DuckDB over the views `events` (one row per event) and `event_files`.
# make analytics-sql Q="SELECT type, count(*) FROM events GROUP BY 1"   [STAGE=local] [FORMAT=table|csv|json]
analytics-sql: $(STAMP) ## SQL over the local event lake with DuckDB: Q="SELECT type, count(*) FROM events GROUP BY 1"
	@test -n "$$Q" || { echo 'usage: make analytics-sql Q="SELECT type, count(*) FROM events GROUP BY 1" [STAGE=local]'; exit 2; }
	@$(BIN)/python -m devstack.lake_sql --stage "$(or $(STAGE),$(or $(DEVSTACK_STAGE),local))" --format "$(or $(FORMAT),table)" "$$Q"

bundle-size: $(STAMP) ## the ingest function's pruned bundle size (with the layer) against its 230 MB budget
	$(MAKE) -C functions/ingest bundle-size PIP=$(abspath $(BIN))/pip

clean-data: ## delete .data (the local stack's databases and state)
	rm -rf .data
