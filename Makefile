# casepush: install, run, test, lint, docs and bench from a fresh clone.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PLUGINS := $(wildcard plugins/*/setup.cfg)
PLUGIN_DIRS := $(patsubst %/setup.cfg,%,$(PLUGINS))

.PHONY: install run test fuzz lint format docs bench clean

install: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml $(PLUGINS)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,lint]' $(foreach dir,$(PLUGIN_DIRS),-e ./$(dir))
	touch $@

run: install
	$(VENV)/bin/casepush serve

# On both cores (pytest-xdist), each test file kept to one worker: its module fixtures are made once.
PYTEST_WORKERS ?= 2
test: install
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# The long fuzz run (tests/test_fuzz.py; `make test` runs a short one): every schemathesis phase and
# FUZZ_EXAMPLES requests per operation and phase; prints its figures.
FUZZ_EXAMPLES ?= 40
fuzz: install
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_PHASES=examples,coverage,fuzzing,stateful FUZZ_NUL=true \
		$(PY) -m pytest tests/test_fuzz.py -rP $(PYTEST_ARGS)

# ruff, mypy, the import contracts (pyproject.toml; docs/architecture.md), and the installed dependencies'
# known vulnerabilities (tools/audit_dependencies.py).
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache
	$(PY) tools/audit_dependencies.py

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# docs/ui/*.png, from the web UI's end-to-end tests (a test run alone writes them to a temporary folder).
.PHONY: screenshots
screenshots: install
	CASEPUSH_SCREENSHOTS=$(CURDIR)/docs/ui $(PY) -m pytest tests/test_ui_e2e.py -q $(PYTEST_ARGS)

# docs/api.md, from the OpenAPI document the server generates.
docs: install
	$(PY) -m casepush.web.api --markdown > docs/api.md

bench: install
	$(PY) -m bench $(BENCH_ARGS)

# The load and crash tests, longer: LOAD_SECONDS of load, CRASH_ROUNDS kills, on SQLite (and PostgreSQL
# with CASEPUSH_TEST_DATABASE_URL); their figures are appended to STRESS_REPORT, one JSON line a run.
LOAD_SECONDS ?= 60
CRASH_ROUNDS ?= 10
STRESS_REPORT ?= build/stress-report.jsonl
.PHONY: stress
stress: install
	mkdir -p $(dir $(STRESS_REPORT))
	LOAD_SECONDS=$(LOAD_SECONDS) CRASH_ROUNDS=$(CRASH_ROUNDS) STRESS_REPORT=$(abspath $(STRESS_REPORT)) \
		$(PY) -m pytest tests/test_load.py tests/test_crash.py $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
