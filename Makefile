# Everything installs itself: `make test` on a fresh clone builds the project virtualenv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
MODEL ?= mlp
CONFIG ?= small

.PHONY: test sim generate clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first and exactly pinned: pip then takes the local CPU wheel, not the CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

test: $(STAMP)
	$(PY) -m pytest -q

# Until the RTL co-simulation lands (issue 4), `make sim` runs the bit-exact emulator.
sim: $(STAMP)
	$(VENV)/bin/atalla run $(MODEL) --backend emulator --config $(CONFIG)

# Regenerate rtl/atalla_pkg.sv and include/atalla_abi.h from the Python definitions.
generate: $(STAMP)
	$(PY) -m atalla.codegen

clean:
	rm -rf $(VENV) build sim_build out
