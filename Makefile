# Quick start targets. Only python3 and make are needed on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PACKAGING := $(VENV)/.packaging

.PHONY: run test bench package clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

## run: the main job, locally, on the built-in fake cloud
run: $(STAMP)
	$(VENV)/bin/rolepact local

## test: the whole test suite
test: $(STAMP)
	$(PY) -m pytest -q -n auto

## package: build/dist, the code directory both deployment files deploy (python3.10, Linux x86_64).
## Needs only the `package` extra (uv; tomli on Python 3.10), not the test tools.
$(PACKAGING): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[package]'
	touch $(PACKAGING)

package: $(PACKAGING)
	$(PY) deploy/package.py

bench: $(STAMP)
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) build .pytest_cache
