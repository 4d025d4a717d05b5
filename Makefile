# `make run` and `make test` set up .venv in the repo root on first use (and when pyproject.toml
# changes), then run the job. PYTHON picks the interpreter (>= 3.11).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench clean-venv

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("Python >= 3.11 needed, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	GRADIO_ANALYTICS_ENABLED=False $(BIN)/classmood-ui

test: $(STAMP)
	GRADIO_ANALYTICS_ENABLED=False $(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/classifier.py
	$(BIN)/python bench/serving.py
	$(BIN)/python bench/gallery.py
	$(BIN)/python bench/dashboard.py
	$(BIN)/python bench/webcam.py --upload

clean-venv:
	rm -rf $(VENV)
