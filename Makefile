# On a fresh Debian machine with Python 3.11, `make test` and `make reproduce` are the whole set-up:
# each creates or refreshes the virtual environment in .venv when pyproject.toml changes.
PYTHON   ?= python3
VENV     ?= .venv
PY       := $(VENV)/bin/python
PROFILE  ?= cpu
STAMP    := $(VENV)/.kdrepro-installed

.PHONY: env test test-slow bench reproduce clean-runs

env: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first, alone: pip takes this CUDA build from the machine's disk (see README).
	$(PY) -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install --quiet -e '.[test]'
	$(PY) -m ipykernel install --sys-prefix --name python3 > /dev/null
	touch $@

# Unit tests, then every notebook through papermill at the smoke profile (tests/test_reproduce.py), then
# nbval over the notebooks (reusing that run cache; only cells marked NBVAL_CHECK_OUTPUT are compared).
test: $(STAMP)
	KDLIB_PROFILE=smoke TQDM_DISABLE=1 $(PY) -m pytest tests notebooks --nbval-lax --nbval-current-env \
		--nbval-sanitize-with tests/nbval_sanitize.cfg -m "not slow"

# Tests that take minutes (a whole notebook scaled out through submitit's local executor); CI runs them too.
test-slow: $(STAMP)
	KDLIB_PROFILE=smoke TQDM_DISABLE=1 $(PY) -m pytest tests -m slow

# Speed against baselines, written to benchmarks/RESULTS.md (about 15 minutes; needs a cold `make reproduce` first
# for the cpu wall times, or BENCH_ARGS=--cold-cpu to measure them now, 30 minutes more).
bench: $(STAMP)
	$(PY) benchmarks/bench.py $(BENCH_ARGS)

# make reproduce [PROFILE=cpu|smoke|paper] [DRYRUN=1] [NOTEBOOK=park2022] [DEVICE=auto] [PARAMS=params.yaml]
# DRYRUN=1 with PROFILE=paper: the paper profile on stand-in data, every training capped at a few steps (profile dryrun).
reproduce: $(STAMP)
	TQDM_MININTERVAL=30 $(PY) -m kdlib.reproduce --profile $(if $(DRYRUN),dryrun,$(PROFILE)) --device $(or $(DEVICE),auto) \
		$(if $(NOTEBOOK),--notebook $(NOTEBOOK)) $(if $(PARAMS),--params $(PARAMS))

clean-runs:
	rm -rf runs/
