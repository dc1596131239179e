"""The scratchpad's bank arbiter against its rule, with the configs' ports and with more of them."""

from __future__ import annotations

from dataclasses import replace

import pytest

from atalla.config import CONFIGS
from runtime.rtl.build import Dut, lint, run
from runtime.rtl.params import verilator_parameters

PORTS = {"2R1W": CONFIGS["small"], "3R2W": replace(CONFIGS["small"], sp_bank_read_ports=3, sp_bank_write_ports=2)}


@pytest.mark.parametrize("ports", sorted(PORTS))
def test_random_requests_follow_the_rule(ports):
    cfg = PORTS[ports]
    dut = Dut("sp_arbiter", ("sp_arbiter.sv",), parameters=verilator_parameters(cfg, "sp_arbiter"))
    tests, failures = run(dut, "cocotb_tests.tb_sp_arbiter", config=cfg, settings={"cycles": 3000})
    assert tests > 0 and failures == 0


@pytest.mark.parametrize("config", ["small", "atalla32"])
def test_lint_clean(config):
    result = lint(("sp_arbiter.sv",), top="sp_arbiter", parameters=verilator_parameters(CONFIGS[config], "sp_arbiter"))
    assert result.returncode == 0, result.stdout + result.stderr
