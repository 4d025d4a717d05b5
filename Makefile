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
	@echo "ClassMood's main job is the teacher's app (classmood-ui), which arrives with the app issue."
	@echo "Available now in $(VENV):"
	@echo "  $(BIN)/classmood-evaluate          score the bundled model on FER2013 val"
	@echo "  $(BIN)/classmood-train --help      train the expression model"

test: $(STAMP)
	GRADIO_ANALYTICS_ENABLED=False $(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/classifier.py

clean-venv:
	rm -rf $(VENV)
