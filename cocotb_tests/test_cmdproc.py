"""Command processor + mailbox: compiled zoo programs run with the same firmware calls as the emulator."""

from __future__ import annotations

import pytest

from atalla.config import CONFIGS
from compiler.driver import compile_model
from golden.zoo import REGRESSION_MODELS, ZOO
from runtime.rtl.build import Dut, lint, run
from runtime.rtl.params import verilator_parameters
from runtime.verify.generator import PLANT_KINDS

SOURCES = ("atalla_pkg.sv", "mailbox.sv", "cmdproc.sv")
TESTS = ("runs_like_the_emulator", "firmware_fault_halts_at_the_emulators_command", "unknown_opcode_faults")


def bench(config: str) -> Dut:
    return Dut("cmdproc_tb", (*SOURCES, "tb/cmdproc_tb.sv"), cpp=("tb/cmdproc_tb.cpp",),
               parameters=verilator_parameters(CONFIGS[config], "cmdproc_tb"))


@pytest.fixture(scope="module")
def blobs(tmp_path_factory) -> dict[str, str]:
    out = {}
    for model in REGRESSION_MODELS:
        module, inputs = ZOO[model]()
        path = tmp_path_factory.mktemp("blobs") / f"{model}.atb"
        path.write_bytes(compile_model(module, inputs, CONFIGS["small"], model).blob())
        out[model] = str(path)
    return out


@pytest.mark.parametrize("model", REGRESSION_MODELS)
@pytest.mark.parametrize("testcase", TESTS)
def test_cmdproc(blobs, model, testcase, tmp_path):
    tests, failures = run(bench("small"), "cocotb_tests.tb_cmdproc", testcase=testcase,
                          settings={"blob": blobs[model]}, test_dir=tmp_path)
    assert tests == 1 and failures == 0


def test_planted_faults_stop_like_the_emulator(tmp_path):
    """Every fault code, one directed test each, in one simulation of the command processor."""
    cases = tuple(f"planted_{kind.name.lower()}" for kind in PLANT_KINDS)
    tests, failures = run(bench("small"), "cocotb_tests.tb_cmdproc", testcase=cases, config=CONFIGS["small"],
                          test_dir=tmp_path)
    assert (tests, failures) == (len(PLANT_KINDS), 0)


@pytest.mark.parametrize("top,config", [("cmdproc", "small"), ("cmdproc", "atalla32"), ("mailbox", "small")])
def test_lint_clean(top, config):
    result = lint(SOURCES, top=top, parameters=verilator_parameters(CONFIGS[config], top))
    assert result.returncode == 0, result.stdout + result.stderr
