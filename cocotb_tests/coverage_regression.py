"""`make coverage`: the regression on coverage builds of the small config, every run's coverage.dat
and functional samples merged into coverage/summary.json and coverage/report.md
(runtime/rtl/coverage.py does the merging; runtime/verify/functional.py is the plan and sampler).

The jobs, each its own run directory under OUT/runs:
- zoo-MODEL: the regression's zoo models on the whole design (sampled: the emulator on the same
  program and inputs, and the RTL run's firmware calls);
- directed-gather, directed-host-op-raises, directed-alloc-zero-bytes, directed-stream-at-dram-end,
  directed-last-row, directed-long: hand-made programs for what neither the zoo nor the random
  programs reach (a gather on the whole design, a host op that fails, a call the firmware refuses
  as malformed, a program stream that ends in DRAM's last line, compute writes at the
  scratchpad's last row, a run of 2.7 M cycles and 264 k commands for the counters' upper bits);
- random-legal-I, random-illegal-I: slices of constrained-random programs, legal and with a planted
  bad command, on the whole design (tb_batch samples them), seed from the clock or
  $ATALLA_VERIFY_SEED, printed;
- bench-dma, bench-vector, bench-vector-one-stage: the DMA and vector-unit block benches on
  coverage builds of their own (gathers and the vector unit's corner values, which the programs
  reach less; the vector unit also with DIV and the reductions in one stage, the arms the small
  config's pipeline does not take); their hits count on the design's points only.

`--shard I/N` runs the jobs j with j % N == I (0 <= I < N) and does not merge; gather the shards'
OUT/runs directories into one and merge them with `python -m runtime.rtl.coverage RUNS --out OUT`.
Every job must also pass (the programs agree with the emulator, the zoo runs finish, the benches
pass): coverage of a failing run counts for nothing.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from atalla.config import CONFIGS, HardwareConfig
from atalla.isa import BMODE_SHIFT, COMMAND_BYTES, BMode, Flag, Opcode, VecFunc, command, make_ref
from atalla.program import HostOp
from runtime.rtl.build import Dut, run
from runtime.rtl.cosim import COVERAGE_FLAGS, run_rtl
from runtime.rtl.coverage import CoverageError, headline, merge_dir
from runtime.rtl.params import verilator_parameters
from runtime.verify import parse_shard, run_seed
from runtime.verify.batch import run_random
from runtime.verify.functional import DESIGN_EVENTS, SampledEmulator, Sampler, plan
from runtime.verify.fuzz import tiny_program, tiny_program_with_ids

CONFIG = CONFIGS["small"]
LEGAL_SLICES, LEGAL_PER_SLICE = 4, 150
ILLEGAL_SLICES, ILLEGAL_PER_SLICE = 2, 130  # 10 programs of each of the 13 planted kinds a slice


def zoo_job(model: str) -> Callable[[Path, int], None]:
    def job(run_dir: Path, seed: int) -> None:
        from compiler.driver import compile_model
        from golden.zoo import ZOO
        from runtime.loader import load

        module, inputs = ZOO[model]()
        blob = compile_model(module, inputs, CONFIG, model).blob()
        arrays = [x.numpy() for x in inputs]
        result = run_rtl(blob, arrays, CONFIG, run_dir, quiet=True, coverage=True)
        if result.status != "done":
            raise RuntimeError(f"{model} did not finish: {result.problem()}")
        sampler = Sampler(CONFIG)
        SampledEmulator(load(blob, CONFIG), sampler).run(arrays)
        sampler.calls(result.firmware_calls)
        (run_dir / "functional.json").write_text(json.dumps(dict(sorted(sampler.hits.items())), indent=1))
    return job


def last_row_program():
    """The tiny program's data through the scratchpad's last row: a buffer of all but the last 4 KiB
    and one of those (ALLOC's answer then has its upper address bits set), a GEMM writing its
    result row at the last row (write port 0) and a VEC scaling it in place (port 1), then stored.
    Each compute write of a row r covers rows r and r + 1; at the last row, r + 1 lies past the end
    and is dropped (scratchpad.sv), which no other program reaches."""
    top_rows = 4096 // CONFIG.sp_row_bytes
    last = make_ref(1, top_rows - 1)
    commands = [
        command(Opcode.ALLOC, handle=0, bytes=CONFIG.sp_bytes - 4096),
        command(Opcode.ALLOC, handle=1, bytes=4096),
        command(Opcode.DMA_LOAD, sp=make_ref(0), dram_addr=128, rows=8, cols=8, row_stride=8, col_stride=1, ticket=0),
        command(Opcode.DMA_LOAD, sp=make_ref(0, 8), dram_addr=0, rows=1, cols=8, row_stride=8, col_stride=1, ticket=1),
        command(Opcode.WAIT, ticket=0),
        command(Opcode.WAIT, ticket=1),
        command(Opcode.GEMM, func=1, flags=Flag.D_BF16, a=make_ref(0, 8), b=make_ref(0), c=0, d=last, m=1, k=8, n=8),
        command(Opcode.VEC, func=VecFunc.MUL, flags=BMode.SCALAR << BMODE_SHIFT, dst=last, a=last, b=0x3F000000,
                rows=1, cols=8),
        command(Opcode.DMA_STORE, sp=last, dram_addr=448, rows=1, cols=8, row_stride=8, col_stride=1, ticket=2),
        command(Opcode.WAIT, ticket=2),
        command(Opcode.FREE, handle=1),
        command(Opcode.FREE, handle=0),
        command(Opcode.END),
    ]
    return tiny_program(commands=commands, host_ops=[])


# directed-long: LONG_BLOCKS blocks of LONG_BLOCK_COMMANDS commands (the last command's index passes
# 2^18, the mailbox tags move through every bit below) and about 2^21 cycles.
LONG_BLOCKS, LONG_BLOCK_COMMANDS = 200, 1320


def long_program():
    """A run of more than 2^21 cycles, 2^25 MACs and 2^18 commands, for the upper bits of the cycle
    and performance counters and of the command index. One buffer of the whole scratchpad, filled
    by a load of all its 4,096 rows and one of 3,000: weights in rows 0..7, an A row at 8, GEMM
    results in 16..1015 and 2048..3047 (rows with bit 11 clear and set), a VEC's rows in
    1024..2047, a DMA's in 3072..4095. Each block queues five GEMMs of 1,000 rows (A step 0: one A
    row; two accumulating onto their D; the fifth waits for room in the queue), then, while they
    run, a VEC on its rows and a DMA of 1,024 rows, one element a request (both strides 0), each
    meeting the GEMM unit's writes in the banks; it waits for the DMA and pads with NOPs."""
    def gemm(d_row: int, accumulate: bool):
        flags = Flag.D_BF16 | (Flag.ACCUMULATE | Flag.C_BF16 if accumulate else 0)
        return command(Opcode.GEMM, func=0, flags=flags, a=make_ref(0, 8), b=make_ref(0),
                       c=make_ref(0, d_row) if accumulate else 0, d=make_ref(0, d_row), m=1000, k=8, n=8)

    block = [gemm(16, False), gemm(2048, False), gemm(16, True), gemm(2048, True), gemm(16, False),
             command(Opcode.VEC, func=VecFunc.MUL, flags=BMode.SCALAR << BMODE_SHIFT, dst=make_ref(0, 1024),
                     a=make_ref(0, 1024), b=0x3F800000, rows=1024, cols=8),
             command(Opcode.DMA_LOAD, sp=make_ref(0, 3072), dram_addr=0, rows=1024, cols=8, row_stride=0,
                     col_stride=0, ticket=1),
             command(Opcode.WAIT, ticket=1)]
    block += [command(Opcode.NOP)] * (LONG_BLOCK_COMMANDS - len(block))
    load = lambda row, rows, addr, stride, ticket: command(  # noqa: E731
        Opcode.DMA_LOAD, sp=make_ref(0, row), dram_addr=addr, rows=rows, cols=8, row_stride=stride, col_stride=1,
        ticket=ticket)
    commands = [
        command(Opcode.ALLOC, handle=0, bytes=CONFIG.sp_bytes),
        load(0, CONFIG.sp_rows, 0, 0, 0),
        command(Opcode.WAIT, ticket=0),
        load(1024, 3000, 0, 0, 0),
        command(Opcode.WAIT, ticket=0),
        load(0, 8, 128, 8, 0),
        load(8, 1, 0, 8, 1),
        command(Opcode.WAIT, ticket=0),
        command(Opcode.WAIT, ticket=1),
        *block * LONG_BLOCKS,
        command(Opcode.DMA_STORE, sp=make_ref(0, 2048), dram_addr=448, rows=2, cols=8, row_stride=8, col_stride=1,
                ticket=2),
        command(Opcode.WAIT, ticket=2),
        command(Opcode.FREE, handle=0),
        command(Opcode.END),
    ]
    return tiny_program(commands=commands, host_ops=[], dram_bytes_used=1024 + COMMAND_BYTES * len(commands))


def directed_job(program_of: Callable[[], object], inputs: list, status: str) -> Callable[[Path, int], None]:
    """A hand-made program (runtime/verify/fuzz.py's tiny ones) that must end as `status` says."""
    def job(run_dir: Path, seed: int) -> None:
        from compiler.serialize import serialize
        from runtime.emulator import EmulatorError

        program = program_of()
        result = run_rtl(serialize(program), inputs, CONFIG, run_dir, quiet=True, coverage=True)
        got = "done" if result.status == "done" else result.fault_status
        if got != status:
            raise RuntimeError(f"ended {got} ({result.problem()}), not {status}")
        sampler = Sampler(CONFIG)
        try:
            SampledEmulator(program, sampler).run(inputs)
        except EmulatorError:
            pass  # the RTL's fault, checked above; the commands before it are sampled
        sampler.calls(result.firmware_calls)
        (run_dir / "functional.json").write_text(json.dumps(dict(sorted(sampler.hits.items())), indent=1))
    return job


def random_job(index: int, count: int, illegal: bool) -> Callable[[Path, int], None]:
    def job(run_dir: Path, seed: int) -> None:
        result = run_random(CONFIG, seed, count, run_dir, start=index * count, illegal=illegal, coverage=True)
        if result.failures:
            first = result.failures[0]
            raise RuntimeError(f"program {first['index']} differs: {first['problem']}; "
                               f"reproduce: {result.reproduce(first['index'])}")
        print(f"    {result.summary().splitlines()[0]}", file=sys.stderr)
    return job


def bench_job(dut: Dut, module: str, config: HardwareConfig, settings: dict) -> Callable[[Path, int], None]:
    def job(run_dir: Path, seed: int) -> None:
        tests, failures = run(dut, module, config=config, settings=settings, test_dir=run_dir / "sim", quiet=True)
        if tests == 0 or failures:
            raise RuntimeError(f"{module}: {failures} of {tests} tests failed; see {run_dir / 'sim' / 'sim.log'}")
    return job


def jobs() -> dict[str, Callable[[Path, int], None]]:
    from cocotb_tests.scratchpad_model import model_config
    from cocotb_tests.test_dma import SOURCES as DMA_SOURCES
    from cocotb_tests.test_vector_unit import BENCH_CONFIGS as VECTOR_CONFIGS
    from cocotb_tests.test_vector_unit import SOURCES as VECTOR_SOURCES
    from golden.zoo import REGRESSION_MODELS

    out = {f"zoo-{m}": zoo_job(m) for m in REGRESSION_MODELS}
    x = np.linspace(-1, 1, 16, dtype=np.float32).reshape(2, 8)
    # A gather on the whole design (no zoo model of the small regression has an embedding) and a host
    # op that raises (the firmware's HOST_FAILED), as cocotb_tests/test_cosim.py's fault table runs it.
    out["directed-gather"] = directed_job(tiny_program_with_ids, [x, np.array([5, 2], np.int32)], "done")
    bad_gelu = HostOp("aten.gelu.default", [{"tensor": 2}, "tanh", "tanh"], {}, [3])
    out["directed-host-op-raises"] = directed_job(lambda: tiny_program(host_ops=[bad_gelu]), [x], "HOST_FAILED")
    # An ALLOC of 0 bytes, which the firmware refuses as a malformed call (BAD_CALL).
    alloc_zero = lambda: tiny_program(commands=[command(Opcode.ALLOC, handle=0, bytes=0), *tiny_program().commands[1:]])  # noqa: E731
    out["directed-alloc-zero-bytes"] = directed_job(alloc_zero, [x], "BAD_CALL")
    # The stream in DRAM's last bytes, not line-aligned: the fetch's last line is cut at the end of DRAM.
    stream = len(tiny_program().commands) * COMMAND_BYTES
    out["directed-stream-at-dram-end"] = directed_job(
        lambda: tiny_program(program_dram_offset=CONFIG.dram_bytes - stream, dram_bytes_used=CONFIG.dram_bytes),
        [x], "done")
    out["directed-last-row"] = directed_job(last_row_program, [x], "done")
    out["directed-long"] = directed_job(long_program, [x], "done")
    out |= {f"random-legal-{i}": random_job(i, LEGAL_PER_SLICE, False) for i in range(LEGAL_SLICES)}
    out |= {f"random-illegal-{i}": random_job(i, ILLEGAL_PER_SLICE, True) for i in range(ILLEGAL_SLICES)}
    dma = Dut("dma_tb", DMA_SOURCES, verilator_parameters(CONFIG, "dma_tb"), cpp=("dram_model.cpp",),
              extra_args=COVERAGE_FLAGS)
    out["bench-dma"] = bench_job(dma, "cocotb_tests.tb_dma", CONFIG, {"count": 600})
    # The small config's vector unit, and the same with DIV and ROWSUM/ROWMAX in one stage: the
    # design's source has both arms (chosen by parameter), so both builds' hits count on its points.
    for job, config in (("bench-vector", CONFIG), ("bench-vector-one-stage", VECTOR_CONFIGS["one-stage"])):
        vcfg = model_config(config)
        vector = Dut("vector_tb", (*VECTOR_SOURCES, "tb/scratchpad_model.sv", "tb/vector_tb.sv"),
                     parameters=verilator_parameters(vcfg, "vector_tb"), cpp=("tb/scratchpad_model.cpp",),
                     extra_args=COVERAGE_FLAGS)
        out[job] = bench_job(vector, "cocotb_tests.tb_vector", vcfg, {"commands": 1500, "refuse": 0.25})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cocotb_tests.coverage_regression", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("coverage"), help="run directories go to OUT/runs")
    parser.add_argument("--shard", default=None, metavar="I/N", help="run the jobs j with j %% N == I, do not merge")
    parser.add_argument("--seed", type=int, default=None, help="the random programs' seed")
    parser.add_argument("--jobs", nargs="*", default=None, help="only these jobs (names as listed by --list)")
    parser.add_argument("--list", action="store_true", help="list the jobs")
    args = parser.parse_args(argv)
    every = jobs()
    if args.list:
        print("\n".join(every))
        return 0
    names = list(every) if args.jobs is None else args.jobs
    if unknown := sorted(set(names) - set(every)):
        raise SystemExit(f"unknown job(s) {unknown}; --list names them")
    try:
        shard, shards = parse_shard(args.shard) if args.shard else (0, 1)
    except ValueError as e:
        raise SystemExit(str(e)) from None
    mine = [n for j, n in enumerate(every) if n in names and j % shards == shard]
    seed = run_seed(args.seed)
    out = args.out.resolve()  # the simulations run in their own directories
    print(f"coverage regression: seed {seed}, {len(mine)} jobs" + (f" (shard {args.shard})" if args.shard else ""),
          file=sys.stderr)
    if not args.shard and args.jobs is None:  # a whole run merges its own runs, never an older run's
        shutil.rmtree(out / "runs", ignore_errors=True)
    for name in mine:
        print(f"  {name}...", file=sys.stderr)
        run_dir = out / "runs" / name
        shutil.rmtree(run_dir, ignore_errors=True)
        try:
            every[name](run_dir, seed)
        except RuntimeError as e:
            print(f"coverage regression: {name}: {e} (seed {seed})", file=sys.stderr)
            return 1
    if args.shard or args.jobs is not None:
        print(f"merge with: python -m runtime.rtl.coverage {out / 'runs'} --out {out}", file=sys.stderr)
        return 0
    try:
        summary = merge_dir(out, out / "runs", plan(CONFIG), DESIGN_EVENTS)
    except CoverageError as e:
        print(f"coverage: error: {e}", file=sys.stderr)
        return 2
    print(headline(summary, out))
    return 1 if summary["stale_waivers"] else 0


if __name__ == "__main__":
    sys.exit(main())
