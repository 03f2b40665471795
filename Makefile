# On a fresh Debian machine with Python 3.11, `make test` and `make reproduce` are the whole set-up:
# each creates or refreshes the virtual environment in .venv when pyproject.toml changes.
PYTHON   ?= python3
VENV     ?= .venv
PY       := $(VENV)/bin/python
PROFILE  ?= cpu
STAMP    := $(VENV)/.kdrepro-installed
PIP      := $(PY) -m pip install -q -q --disable-pip-version-check
# TORCH_INDEX=https://download.pytorch.org/whl/cpu installs the CPU-only build (no CUDA wheels) where the index is reachable.
TORCH_INDEX ?=

.PHONY: env data test test-slow test-dryrun bench reproduce clean-runs

env: $(STAMP)

$(STAMP): pyproject.toml
	@echo "Setting up $(VENV): torch 2.14.1 + torchvision 0.29.1, then kdrepro and its dependencies (a few minutes)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PIP) --upgrade pip
	@# torch first, alone: pip takes this CUDA build from the machine's disk (see README).
	@$(PIP) torch==2.14.1 torchvision==0.29.1 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	@$(PIP) -e '.[test]' 2>&1 | grep -v -i "setuptools\|SetuptoolsDeprecationWarning\|^\s*!!\|^\s*\*\*\*\|^$$" || true
	@$(PY) -m ipykernel install --sys-prefix --name python3 > /dev/null
	@touch $@

# Fashion-MNIST where it already is, else Debian's package (apt, as root or with sudo), else a checksummed download.
data: $(STAMP)
	@$(PY) -m kdlib.obtain fashion_mnist

# Unit tests, then every notebook through papermill at the smoke profile (tests/test_reproduce.py), then
# nbval over the notebooks (reusing that run cache; only cells marked NBVAL_CHECK_OUTPUT are compared).
test: $(STAMP) data
	KDLIB_PROFILE=smoke TQDM_DISABLE=1 $(PY) -m pytest tests notebooks --nbval-lax --nbval-current-env \
		--nbval-sanitize-with tests/nbval_sanitize.cfg -m "not slow"

# Tests that take minutes (a notebook scaled out through submitit's local executor, kill-and-resume); CI runs them too.
test-slow: $(STAMP) data
	KDLIB_PROFILE=smoke TQDM_DISABLE=1 $(PY) -m pytest tests -m "slow and not dryrun"

# The paper profile proven without a GPU: every notebook at the dryrun profile on stand-in data (about 16 minutes on
# 2 cores; CI runs it after test-slow).
test-dryrun: $(STAMP) data
	KDLIB_PROFILE=smoke TQDM_DISABLE=1 $(PY) -m pytest tests -m dryrun

# Speed against baselines, written to benchmarks/RESULTS.md (about 15 minutes; needs a cold `make reproduce` first
# for the cpu wall times, or BENCH_ARGS=--cold-cpu to measure them now, 30 minutes more).
bench: $(STAMP)
	$(PY) benchmarks/bench.py $(BENCH_ARGS)

# make reproduce [PROFILE=cpu|smoke|paper] [DRYRUN=1] [NOTEBOOK=park2022] [DEVICE=auto] [PARAMS=params.yaml]
# DRYRUN=1 with PROFILE=paper: the paper profile on stand-in data, every training capped at a few steps (profile dryrun).
reproduce: $(STAMP) data
	TQDM_MININTERVAL=30 $(PY) -m kdlib.reproduce --profile $(if $(DRYRUN),dryrun,$(PROFILE)) --device $(or $(DEVICE),auto) \
		$(if $(NOTEBOOK),--notebook $(NOTEBOOK)) $(if $(PARAMS),--params $(PARAMS))

clean-runs:
	rm -rf runs/
