# `make run` and `make test` set up .venv in the repo root on first use (and when pyproject.toml
# changes), then run the job. PYTHON picks the interpreter (>= 3.11).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-fast bench docs clean-venv

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

# the quick lane while you work: everything but the tests marked slow (browser, real capture,
# training, whole recordings, subprocess CLIs); `make test` stays the whole suite, as CI runs it
test-fast: $(STAMP)
	GRADIO_ANALYTICS_ENABLED=False $(BIN)/python -m pytest -m "not slow"

# pages generated from the code: the model card from its JSON
docs: $(STAMP)
	$(BIN)/python -m model.card_markdown

bench: $(STAMP)
	$(BIN)/python bench/classifier.py
	$(BIN)/python bench/serving.py
	$(BIN)/python bench/gallery.py
	$(BIN)/python bench/dashboard.py
	$(BIN)/python bench/webcam.py --upload

clean-venv:
	rm -rf $(VENV)
