# Everything installs itself: `make test` on a fresh clone builds the project virtualenv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
MODEL ?= mlp
CONFIG ?= small
WAVES ?= 0
TRACE ?= 0
WAVES_FLAG := $(if $(filter 1 vcd,$(WAVES)),--waves vcd,$(if $(filter fst,$(WAVES)),--waves fst))

.PHONY: test test-long sim bench bench-gpt2 coverage generate clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	# torch first and exactly pinned: pip then takes the local CPU wheel, not the CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	# The extras after it never replace that torch: constraints.txt holds it at 2.13.0 whatever their
	# dependencies ask for (executorch brings torchao, coremltools, ...), and the check below fails the
	# install if anything replaced it all the same.
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev,models,executorch]'
	$(PY) -c "import torch, sys; sys.exit(0 if torch.__version__.split('+')[0] == '2.13.0' else 'torch ' + torch.__version__ + ' replaced 2.13.0')"
	touch $@

# JOBS: pytest-xdist workers (default: one per core); SHARD=I/N runs a farm job's slice of the tests.
JOBS ?= auto
test: $(STAMP)
	$(PY) -m pytest -q -m "not long" -n $(JOBS) --durations=15 $(if $(SHARD),--shard $(SHARD))

# The runs kept out of `make test` (pytest marker `long`): the ExecuTorch delegates of the large models,
# the atalla32 block benches (the array's, the DMA's, the vector unit's; the whole atalla32 design runs in
# make test) and the vector unit with every function in one stage.
test-long: $(STAMP)
	$(PY) -m pytest -q -m long -n $(JOBS)

# Compile, simulate on the RTL, check against the emulator and PyTorch, report.
# WAVES=1 adds a VCD waveform (WAVES=fst: FST, needs liblz4-dev), TRACE=1 a Perfetto timeline
# and a mailbox log; everything lands in out/<model>-<config>/.
sim: $(STAMP)
	$(VENV)/bin/atalla run $(MODEL) --backend rtl --config $(CONFIG) $(WAVES_FLAG) $(if $(filter 1,$(TRACE)),--trace)

# Every performance figure in one run: a table, bench/results.json and bench/efficiency.png.
# SCALE-Sim, the outside reference, runs in its own virtualenv (.venv-scalesim; it needs numpy < 2.4).
bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) -m bench.run

# All of GPT-2 small (124M parameters, 12 layers) on the atalla32 RTL, checked: a long run of its own.
bench-gpt2: $(STAMP)
	$(PY) -m bench.gpt2

# The regression on coverage builds (small config): the zoo, random programs (legal and illegal), the
# DMA and vector benches; coverage/summary.json and coverage/report.md. SHARD=I/N runs a slice of the
# jobs (merge the slices with python -m runtime.rtl.coverage RUNS, docs/verification.md).
coverage: $(STAMP)
	$(PY) -m cocotb_tests.coverage_regression $(if $(SHARD),--shard $(SHARD))

# Regenerate rtl/atalla_pkg.sv, include/atalla_abi.h and rtl/tb/atalla_tb_formats.h from the Python definitions.
generate: $(STAMP)
	$(PY) -m atalla.codegen

clean:
	rm -rf $(VENV) .venv-scalesim build sim_build out
