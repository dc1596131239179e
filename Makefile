# Everything installs itself: `make test` on a fresh clone builds the project virtualenv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
MODEL ?= mlp
CONFIG ?= small
WAVES ?= 0
TRACE ?= 0

.PHONY: test sim generate clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first and exactly pinned: pip then takes the local CPU wheel, not the CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

test: $(STAMP)
	$(PY) -m pytest -q

# Compile, simulate on the RTL, check against the emulator and PyTorch, report.
# WAVES=1 adds a waveform dump, TRACE=1 a Perfetto timeline and a mailbox log (in out/).
sim: $(STAMP)
	$(VENV)/bin/atalla run $(MODEL) --backend rtl --config $(CONFIG) $(if $(filter 1,$(WAVES)),--waves) $(if $(filter 1,$(TRACE)),--trace)

# Regenerate rtl/atalla_pkg.sv and include/atalla_abi.h from the Python definitions.
generate: $(STAMP)
	$(PY) -m atalla.codegen

clean:
	rm -rf $(VENV) build sim_build out
