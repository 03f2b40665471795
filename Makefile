# On a fresh Debian machine with Python 3.11, `make test` and `make reproduce` are the whole set-up:
# each creates or refreshes the virtual environment in .venv when pyproject.toml changes.
PYTHON   ?= python3
VENV     ?= .venv
PY       := $(VENV)/bin/python
PROFILE  ?= cpu
STAMP    := $(VENV)/.kdrepro-installed

.PHONY: env test test-fast reproduce clean-runs

env: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first, alone: pip takes this CUDA build from the machine's disk (see README).
	$(PY) -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install --quiet -e '.[test]'
	$(PY) -m ipykernel install --sys-prefix --name python3 > /dev/null
	touch $@

test: $(STAMP)
	$(PY) -m pytest tests

reproduce: $(STAMP)
	$(PY) -m kdlib.reproduce --profile $(PROFILE)

clean-runs:
	rm -rf runs/
