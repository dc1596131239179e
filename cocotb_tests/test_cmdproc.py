"""Command processor + mailbox: compiled zoo programs run with the same firmware calls as the emulator."""

from __future__ import annotations

import os
import subprocess

import pytest

from atalla.config import CONFIGS
from compiler.driver import compile_model
from golden.zoo import ZOO
from runtime.rtl.build import RTL, Dut, run, tool_env

SOURCES = ("atalla_pkg.sv", "mailbox.sv", "cmdproc.sv")
TESTS = ("runs_like_the_emulator", "firmware_fault_halts_at_the_emulators_command", "unknown_opcode_faults")


def bench(config: str) -> Dut:
    cfg = CONFIGS[config]
    return Dut("cmdproc_tb", (*SOURCES, "tb/cmdproc_tb.sv"), cpp=("tb/cmdproc_tb.cpp",),
               parameters=(("ROW_BYTES", cfg.sp_row_bytes), ("ROW_ADDR_BITS", (cfg.sp_rows - 1).bit_length()),
                           ("NUM_HANDLES", cfg.num_handles), ("NUM_TICKETS", cfg.num_tickets)))


@pytest.fixture(scope="module")
def blobs(tmp_path_factory) -> dict[str, str]:
    out = {}
    for model in ZOO:
        module, inputs = ZOO[model]()
        path = tmp_path_factory.mktemp("blobs") / f"{model}.atb"
        path.write_bytes(compile_model(module, inputs, CONFIGS["small"], model).blob())
        out[model] = str(path)
    return out


@pytest.mark.parametrize("model", sorted(ZOO))
@pytest.mark.parametrize("testcase", TESTS)
def test_cmdproc(blobs, model, testcase, tmp_path):
    tests, failures = run(bench("small"), "cocotb_tests.tb_cmdproc", testcase=testcase,
                          extra_env={"CTB_BLOB": blobs[model]}, test_dir=tmp_path)
    assert tests == 1 and failures == 0


def test_lint_clean():
    for top in ("cmdproc", "mailbox"):
        result = subprocess.run(["verilator", "--lint-only", "-Wall", "--top-module", top,
                                 *(str(RTL / s) for s in SOURCES)], capture_output=True, text=True,
                                env={**os.environ, **tool_env()})
        assert result.returncode == 0, result.stderr
