# Quick start: `make demo` (a real MP4 from an approved post, on the embedded stack) and `make test`.
# Both create or reuse .venv and install the pinned requirements first (requirements-dev.txt: the runtime's
# requirements.txt plus the dev stack, test and lint tools; the service image installs requirements.txt alone).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bytecode chromium test-outage lint typecheck stubs up down status clean bench-media-store bench-still-frame bench-billing bench-provider-sim bench-gateway bench-http-transport bench-conform bench-scale bench-webhooks bench-admission

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/svd demo

# The suite waits on real stacks (renders, polls, outages) and, since every provider output is conformed to the
# 1080p deliverable, computes a good deal too: four workers (six starved stacks of CPU, load ~25 on two cores), one test file each at a time (a file's
# module-scoped stack stays in one worker), longest files first (tests/scheduling.py), keep it within its time budget
# on two cores.
test: $(STAMP) chromium bytecode
	$(BIN)/python -m pytest -n 4 --dist loadfile --no-loadscope-reorder

# Every stack's services and every `svd` the tests run import the project's modules: compiled once here, not in each
# of those processes (environments that set PYTHONDONTWRITEBYTECODE never cache them otherwise).
bytecode: $(STAMP)
	@$(BIN)/python -m compileall -q -j 0 libs services tests >/dev/null

# The console's browser tests drive Debian's chromium with Playwright (never Playwright's own browser downloads):
# installed here when missing and possible (root with apt-get); elsewhere those tests skip and say why.
chromium:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
			|| echo "chromium could not be installed (apt-get failed): the browser tests will skip"; \
	else echo "chromium is missing and cannot be installed here (needs root and apt-get): the browser tests will skip"; fi

# One 10-minute outage (billing) with the production retry defaults: about a quarter of an hour, not part of `test`.
test-outage: $(STAMP) bytecode
	SVD_OUTAGE_TESTS=1 $(BIN)/python -m pytest tests/reliability/test_long_outage.py -s

lint: $(STAMP)
	$(BIN)/ruff check libs services tests
	$(BIN)/ruff format --check libs services tests

typecheck: $(STAMP)
	$(BIN)/mypy libs services

stubs: $(STAMP)
	$(BIN)/python -m svd.codegen

up: $(STAMP)
	$(BIN)/svd up

down: $(STAMP)
	$(BIN)/svd down

status: $(STAMP)
	$(BIN)/svd status

clean: down
	rm -rf out .svd

bench-still-frame: $(STAMP)
	$(BIN)/python -m tests.benchmarks.bench_still_frame

bench-billing: $(STAMP)
	$(BIN)/python -m tests.benchmarks.bench_billing

bench-provider-sim: $(STAMP)
	$(BIN)/python -m tests.benchmarks.bench_provider_sim

bench-gateway: $(STAMP)
	$(BIN)/python -m tests.benchmarks.bench_gateway

bench-http-transport: $(STAMP)
	$(BIN)/python -m tests.benchmarks.bench_http_transport

bench-scale: $(STAMP)
	$(BIN)/python -m tests.benchmarks.bench_scale

bench-admission: $(STAMP)
	$(BIN)/python -m tests.benchmarks.bench_admission

bench-media-store: $(STAMP)
	$(BIN)/python -m tests.benchmarks.bench_media_store

bench-conform: $(STAMP)
	$(BIN)/python -m tests.benchmarks.bench_conform

bench-webhooks: $(STAMP)
	$(BIN)/python -m tests.benchmarks.bench_webhooks
