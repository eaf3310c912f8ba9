PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements.lock
# uv installs the lock; it comes from PyPI through the venv's own pip, pinned so every machine runs the same.
UV_VERSION := 0.13.9
UV := $(BIN)/uv

.PHONY: install lock test demo bench lint clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(UV): | $(BIN)/python
	$(BIN)/python -m pip install --quiet 'uv==$(UV_VERSION)'

# Exactly the pins (and hashes) of $(LOCK), then the project itself, editable and without resolving again.
$(STAMP): $(LOCK) pyproject.toml $(UV)
	$(UV) pip install --quiet --python $(BIN)/python --require-hashes -r $(LOCK)
	$(UV) pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# Re-resolve pyproject.toml's dependencies and its test extra into $(LOCK), keeping the pins that still fit;
# `make lock UPGRADE=1` moves every pin to the newest release allowed.
lock: $(UV)
	$(UV) pip compile pyproject.toml --extra test --universal --python-version 3.11 --generate-hashes \
		--quiet $(if $(UPGRADE),--upgrade) --output-file $(LOCK)

test: $(STAMP)
	$(BIN)/python -m pytest

demo: $(STAMP)
	$(BIN)/snowbot demo

bench: $(STAMP)
	$(BIN)/python -m benchmarks

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .bench .mypy_cache build *.egg-info
