"""cocotb: random scratchpad requests on the bank arbiter, every grant and stall count against the
rule of docs/rtl.md ("Scratchpad"), restated here as a plain model."""

from __future__ import annotations

from collections import Counter

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge, Timer

from runtime.rtl.settings import bench_config, bench_settings

SEED = 5  # unless run(settings={"seed": ...}) says otherwise
UNITS = ("gemm", "vec", "dma")


def expected_grants(req: dict, banks: int, read_ports: int, write_ports: int) -> dict[str, bool]:
    """Fixed priority, a request granted whole or not at all. Reads: GEMM C (always), A, B, then
    the VEC's a and b together, only if its write of this cycle is granted and its write of the
    next cycle fits beside the GEMM unit's next D write; then the DMA. Writes: GEMM D (always), the
    VEC, the DMA."""
    def rows(en: int, row: int, two: int) -> list[int]:
        return [row % banks, (row + 1) % banks][:1 + two] if en else []

    def take(used: Counter, want: list[int], ports: int) -> bool:
        trial = used + Counter(want)
        if all(trial[b] <= ports for b in want):
            used.update(want)
            return True
        return False

    reads = Counter(rows(req["gemm_c_en_i"], req["gemm_c_row_i"], req["gemm_c_two_i"]))
    a = take(reads, rows(req["gemm_a_en_i"], req["gemm_a_row_i"], 0), read_ports)
    b = take(reads, rows(req["gemm_b_en_i"], req["gemm_b_row_i"], 0), read_ports)
    vec_rows = [r for p in range(2) for r in rows(req["vec_rd_en_i"] >> p & 1, req[f"vec_rd_row_{p}"],
                                                  req["vec_rd_two_i"] >> p & 1)]
    writes = Counter(rows(req["gemm_d_en_i"], req["gemm_d_row_i"], req["gemm_d_two_i"]))
    vec_write = take(writes, rows(req["vec_wr_en_i"], req["vec_wr_row_i"], req["vec_wr_two_i"]), write_ports)
    next_writes = Counter(rows(req["gemm_d_next_en_i"], req["gemm_d_next_row_i"], req["gemm_d_next_two_i"]))
    next_write_fits = take(next_writes, rows(req["vec_wr_next_en_i"], req["vec_wr_next_row_i"],
                                             req["vec_wr_next_two_i"]), write_ports)
    vec_reads_fit = all((reads + Counter(vec_rows))[r] <= read_ports for r in vec_rows)
    vec = vec_reads_fit and vec_write and next_write_fits
    if vec:
        reads.update(vec_rows)
    dma_row = [req["dma_row_i"] % banks]
    dma = take(reads, dma_row, read_ports) if req["dma_re_i"] else take(writes, dma_row, write_ports)
    return {"gemm_a_gnt_o": a, "gemm_b_gnt_o": b, "vec_gnt_o": vec, "vec_wr_gnt_o": vec_write, "dma_gnt_o": dma}


def refused(req: dict, got: dict[str, bool]) -> dict[str, bool]:
    """Which units had a request refused this cycle (what the stall counters count)."""
    return {"gemm": bool(req["gemm_a_en_i"] and not got["gemm_a_gnt_o"] or req["gemm_b_en_i"] and not got["gemm_b_gnt_o"]),
            "vec": bool(req["vec_rd_en_i"] and not got["vec_gnt_o"] or req["vec_wr_en_i"] and not got["vec_wr_gnt_o"]),
            "dma": bool((req["dma_re_i"] or req["dma_we_i"]) and not got["dma_gnt_o"])}


def random_request(rng: np.random.Generator, banks: int, rows: int) -> dict:
    # Rows from a few banks' worth, so that requests often meet in one bank.
    row = lambda: int(rng.integers(0, min(rows - 1, 3 * banks)))
    bit = lambda p=0.5: int(rng.random() < p)
    dma_re = bit(0.3)
    return {"gemm_c_en_i": bit(), "gemm_c_two_i": bit(), "gemm_c_row_i": row(),
            "gemm_a_en_i": bit(0.7), "gemm_a_row_i": row(), "gemm_b_en_i": bit(), "gemm_b_row_i": row(),
            "gemm_d_en_i": bit(), "gemm_d_two_i": bit(), "gemm_d_row_i": row(),
            "gemm_d_next_en_i": bit(), "gemm_d_next_two_i": bit(), "gemm_d_next_row_i": row(),
            "vec_rd_en_i": int(rng.integers(0, 4)), "vec_rd_two_i": int(rng.integers(0, 4)),
            "vec_rd_row_0": row(), "vec_rd_row_1": row(),
            "vec_wr_en_i": bit(), "vec_wr_two_i": bit(), "vec_wr_row_i": row(),
            "vec_wr_next_en_i": bit(0.7), "vec_wr_next_two_i": bit(), "vec_wr_next_row_i": row(),
            "dma_re_i": dma_re, "dma_we_i": 0 if dma_re else bit(0.4), "dma_row_i": row()}


@cocotb.test()
async def random_requests_follow_the_rule(dut):
    cfg, settings = bench_config(), bench_settings(seed=SEED)
    rng = np.random.default_rng(settings["seed"])
    row_bits = (cfg.sp_rows - 1).bit_length()
    cocotb.start_soon(Clock(dut.clk_i, 10, unit="ns").start())
    dut.rst_ni.value = 0
    await RisingEdge(dut.clk_i)
    await RisingEdge(dut.clk_i)
    dut.rst_ni.value = 1
    stalls, mismatches, refused_writes = Counter(), [], 0
    for cycle in range(settings["cycles"]):
        req = random_request(rng, cfg.sp_banks, cfg.sp_rows)
        for name, value in req.items():
            if name.startswith("vec_rd_row_"):
                continue
            getattr(dut, name).value = value
        dut.vec_rd_row_i.value = req["vec_rd_row_1"] << row_bits | req["vec_rd_row_0"]
        await Timer(1, unit="ns")
        got = {name: bool(getattr(dut, name).value) for name in ("gemm_a_gnt_o", "gemm_b_gnt_o", "vec_gnt_o", "vec_wr_gnt_o",
                                                                 "dma_gnt_o")}
        want = expected_grants(req, cfg.sp_banks, cfg.sp_bank_read_ports, cfg.sp_bank_write_ports)
        if got != want:
            mismatches.append((cycle, req, got, want))
        refused_writes += req["vec_wr_en_i"] and not want["vec_wr_gnt_o"]
        for unit, was in refused(req, want).items():
            stalls[unit] += was
        await RisingEdge(dut.clk_i)
    await ReadOnly()
    counted = {unit: int(getattr(dut, f"{unit}_stall_cycles_o").value) for unit in UNITS}
    assert not mismatches, f"{len(mismatches)} cycles differ from the rule; first: {mismatches[0]}"
    assert counted == {unit: stalls[unit] for unit in UNITS}
    assert stalls["vec"] > 0 and stalls["dma"] > 0, stalls  # the requests did meet
    # ... the VEC write too, where the D write can take its bank's one write port
    assert (refused_writes > 0) == (cfg.sp_bank_write_ports < 2), refused_writes
    # The GEMM unit's A and B beside its C row take at most three ports of a bank.
    assert (stalls["gemm"] > 0) == (cfg.sp_bank_read_ports < 3), stalls
