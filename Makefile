# KAP care coordination: one entry point for developers, CI and ops.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.9
TOOLS := .cache/tools
UV := $(TOOLS)/bin/uv
PY := .venv/bin/python
STACK := bash infra/local/stack.sh
KAP := $(PY) -m services.cli
export UV_PYTHON_DOWNLOADS := never
export UV_SYSTEM_CERTS := 1
# Every target here is a developer's or CI's (demo, test, bench): explicit development mode, so
# the default JWT secret and a development identity key are accepted. Production never runs
# make; outside DEV_MODE the services refuse both (README: Privacy and identity).
export DEV_MODE ?= true

.PHONY: help install up down status logs demo console unsafe test test-browser screenshots test-unit safety-soak chaos chaos-series lint docs token dlq redrive bench rebuild clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(UV):
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

.venv/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python python3
	@touch $@

.cache/npm/.installed: package.json package-lock.json infra/local/browser.sh
	bash infra/local/browser.sh
	@touch $@

install: .venv/.installed .cache/npm/.installed ## .venv from uv.lock; htmx and axe-core from npm; Debian's Chromium when missing

up: install ## install and start Kafka, PostgreSQL + FerretDB and the services (INSTANCES=2: two of each)
	INSTANCES=$(or $(INSTANCES),1) $(STACK) up

down: ## stop everything `make up` started
	$(STACK) down

status: ## what is running, on which port; then `kap status` (readiness, lag, outbox, dead letters)
	$(STACK) status
	-@$(KAP) status

logs: ## last lines of every log (make logs S=journey for one; F=1 to follow)
	$(STACK) logs $(if $(F),-f) $(S)

demo: up ## the main job: a scripted two-site network of patients through every service
	$(PY) -m demo
	@$(PY) -m services.console.people

console: up ## start the stack and print the console's URL and demo sign-ins
	@$(PY) -m services.console.people

unsafe: up ## try unsafe clinical states from outside against the local stack
	$(PY) -m demo.unsafe

test: install ## unit, service, integration and e2e tiers against a real broker and database
	$(PY) -m pytest

test-browser: install ## the console in Chromium (Playwright) against the real local stack
	$(PY) -m pytest tests/browser

screenshots: install ## refresh the README's console screenshots (docs/screenshots) from the browser tier
	CONSOLE_SCREENSHOTS=docs/screenshots $(PY) -m pytest tests/browser

test-unit: install ## pure domain tests only: no servers, seconds
	$(PY) -m pytest tests/unit

safety-soak: install ## the cross-service safety model for thousands of examples (EXAMPLES=5000)
	SAFETY_MODEL_EXAMPLES=$(or $(EXAMPLES),5000) $(PY) -m pytest tests/unit/test_safety_model.py -p no:cacheprovider --hypothesis-show-statistics

chaos: install ## fault injection under load on a stack of its own, ledger checked: make chaos SEED=7 MINUTES=1.5
	$(PY) -m chaos run $(if $(SEED),--seed $(SEED)) --minutes $(or $(MINUTES),1.5)

chaos-series: install ## RUNS chaos runs with seeds FIRST, FIRST+1, ... on one stack; results in chaos/results.jsonl
	$(PY) -m chaos series --runs $(or $(RUNS),20) --first-seed $(or $(FIRST),1) --minutes $(or $(MINUTES),1.5)

lint: install ## ruff and mypy --strict
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

docs: install ## regenerate contracts/generated (JSON Schemas, AsyncAPI)
	$(PY) -m contracts.generate

token: install ## mint a dev token: make token ROLE=psychiatrist SITES=site-north
	@$(KAP) token --role $(or $(ROLE),ops) --sites '$(or $(SITES),*)'

bench: install ## throughput and latency against the raw ceilings (QUICK=1: within 3 min), contention, the safety race window
	$(STACK) infra-up
	$(KAP) bench $(if $(QUICK),--quick)

rebuild: install ## rebuild the journey projection from the topics, with a progress bar
	$(KAP) rebuild

dlq: install ## list dead letters: make dlq T=kap.intake.events.dlq
	$(KAP) dlq list $(or $(T),kap.intake.events.dlq)

redrive: install ## re-drive dead letters to their topic once fixed: make redrive T=... [G=group]
	$(KAP) dlq redrive $(T) $(if $(G),--group $(G))

clean: down ## stop everything and delete run state (data, logs); keeps download caches
	rm -rf .run
