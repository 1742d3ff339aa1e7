# harness: the two commands of the README, plus lint and benchmark helpers.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: run test install lint bench clean

$(BIN)/harness: pyproject.toml plugins/circle_packing/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]' -e 'plugins/circle_packing[test]'
	touch $(BIN)/harness

install: $(BIN)/harness  ## create .venv with the core and the circle_packing plugin

run: install  ## an offline circle-packing evolution (no LLM endpoint or key needed)
	$(BIN)/harness run +task=circle_packing run.max_evaluations=500 $(ARGS)

test: install  ## the whole test suite
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest tests plugins/circle_packing/tests $(ARGS)

lint: install
	$(BIN)/ruff check harness hydra_plugins tests plugins benchmarks

bench: install  ## loop overhead with an instant proposer and a trivial evaluation
	$(BIN)/python benchmarks/overhead.py

clean:
	rm -rf $(VENV) runs multirun
