# casepush: install, run, test, lint, docs and bench from a fresh clone.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PLUGINS := $(wildcard plugins/*/setup.cfg)
PLUGIN_DIRS := $(patsubst %/setup.cfg,%,$(PLUGINS))

.PHONY: install run test lint format docs bench clean

install: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml $(PLUGINS)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,lint]' $(foreach dir,$(PLUGIN_DIRS),-e ./$(dir))
	touch $@

run: install
	$(VENV)/bin/casepush serve

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# docs/api.md, from the OpenAPI document the server generates.
docs: install
	$(PY) -m casepush.web.openapi --markdown > docs/api.md

bench: install
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
