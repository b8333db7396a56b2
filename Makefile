# Two entry points (see README): `make run` and `make test`. Both create .venv on first use.
# torch 2.13.0 (the CPU wheel) is installed FIRST and pinned by constraints.txt in every later pip
# call: norse asks for torchvision without a bound and would otherwise pull a CUDA torch.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install run test test-all clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e ".[test]"
	touch $@

run: install
	$(BIN)/moo-snn optimize

test: install
	$(BIN)/python -m pytest

test-all: install
	$(BIN)/python -m pytest -m ""

clean:
	rm -rf $(VENV) build *.egg-info
