# Quick start targets. Only python3 and make are needed on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

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

## package: build/dist, the code directory s.yaml deploys (python3.10, Linux x86_64)
package: $(STAMP)
	$(PY) -m pip install -q -e '.[package]'
	$(PY) deploy/package.py

bench: $(STAMP)
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) build .pytest_cache
