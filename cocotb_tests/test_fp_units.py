"""The fp32 units (rtl/fp/) against atalla.numerics bit for bit, and their lint."""

from __future__ import annotations

import pytest

from runtime.rtl.build import Dut, lint, run

FP_MODULES = ("fp32_add", "fp32_mul", "fp32_div", "fp32_minmax", "fp32_round", "fp32_ldexp", "fp32_to_bf16",
              "fp32_sqrt", "fp32_exp")
# The arithmetic, as functions, and the generated constants it uses: every fp user compiles both first.
FP_PKGS = ("atalla_pkg.sv", "fp/fp32_pkg.sv")
FP_TB = Dut("fp_tb", sources=(*FP_PKGS, *(f"fp/{m}.sv" for m in FP_MODULES), "tb/fp_tb.sv"), cpp=("tb/fp_vectors.cpp",))


def test_fp_units_match_model():
    tests, failures = run(FP_TB, "cocotb_tests.tb_fp")
    assert tests > 0 and failures == 0


def test_fp_pkg_lint():
    result = lint(FP_PKGS)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("module", FP_MODULES)
def test_fp_unit_lint(module):
    result = lint((*FP_PKGS, f"fp/{module}.sv"))
    assert result.returncode == 0, result.stdout + result.stderr
