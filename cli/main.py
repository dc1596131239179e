"""The `atalla` command: compile, inspect, run.

Errors the user can act on (a bad model, a bad blob, a program fault) print one line and exit
non-zero; a traceback means a bug in this tool.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

from atalla.config import CONFIGS, DEFAULT_CONFIG, get_config
from atalla.isa import BF16_BYTES

EXIT_FAIL = 1  # ran, but an output is outside tolerance
EXIT_ERROR = 2  # could not run: bad model, blob, config or program


class UserError(Exception):
    pass


def _compile(spec: str, config_name: str, decompose: bool):
    from compiler.driver import compile_model
    from compiler.errors import CompileError
    from golden.zoo import load_model

    try:
        name, module, inputs = load_model(spec)
        return compile_model(module, inputs, get_config(config_name), name, decompose=decompose), module, inputs
    except (CompileError, ValueError) as e:
        raise UserError(str(e)) from None


def cmd_compile(args) -> int:
    compiled, _, _ = _compile(args.model, args.config, args.decompose)
    blob = compiled.blob()
    Path(args.output).write_bytes(blob)
    p = compiled.program
    print(compiled.partition_report())
    plan = p.metadata["memory_plan"]
    print(f"wrote {args.output}: {len(blob)} bytes, {len(p.commands)} commands, {len(p.host_ops)} host ops, "
          f"DRAM peak {plan['peak_bytes']} bytes ({plan['peak_over_lower_bound']:.3f}x the lower bound), "
          f"config {p.config.name}")
    return 0


def cmd_inspect(args) -> int:
    from atalla.blob_format import VERSION_MAJOR, VERSION_MINOR
    from runtime.loader import BlobError, load_file

    try:
        p = load_file(args.blob)
    except (BlobError, OSError) as e:
        raise UserError(f"{args.blob}: {e}") from None
    md = p.metadata
    print(f"blob {args.blob}: format {VERSION_MAJOR}.{VERSION_MINOR}, model {md.get('model')!r}, "
          f"compiler {md.get('compiler_version')}")
    cfg = p.config
    print(f"config {cfg.name}: array {cfg.array_rows}x{cfg.array_cols}, scratchpad {cfg.sp_bytes} bytes "
          f"({cfg.sp_row_bytes}-byte rows, {cfg.sp_banks} banks, {cfg.sp_page_bytes}-byte pages), "
          f"DRAM {cfg.dram_bytes} bytes")
    print(f"tensors ({len(p.tensors)}):")
    for i, t in enumerate(p.tensors):
        print(f"  {i:3} {t.role.name.lower():12} {t.name:32} {str(list(t.shape)):16} "
              f"dram 0x{t.dram_offset:08x}..0x{t.dram_offset + t.nbytes:08x}")
    kinds = Counter(c.kind for c in p.commands)
    print(f"commands ({len(p.commands)}) at dram 0x{p.program_dram_offset:08x}: "
          + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    print(f"host ops ({len(p.host_ops)}):")
    for i, h in enumerate(p.host_ops):
        print(f"  {i:3} {h.target} args={json.dumps(h.args)} outputs={h.outputs}")
    plan = md.get("memory_plan", {})
    print(f"memory plan: peak {plan.get('peak_bytes')} bytes, lower bound {plan.get('lower_bound_bytes')} bytes, "
          f"without reuse {plan.get('tensor_bytes')} bytes; DRAM used {p.dram_bytes_used} bytes")
    return 0


def _run_dir(model: str, config: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in model)
    return Path("out") / f"{safe}-{config}"


def cmd_run(args) -> int:
    from golden.reference import MAX_ABS_ERR_OF_RANGE, MIN_COSINE, compare, golden_outputs
    from runtime.emulator import Emulator, EmulatorError
    from runtime.loader import load

    compiled, module, inputs = _compile(args.model, args.config, args.decompose)
    config = get_config(args.config)
    blob = compiled.blob()
    program = load(blob, expect_config=config)  # run exactly what would ship
    values = [x.numpy() for x in inputs]
    started = time.perf_counter()
    emu = Emulator(program)
    try:
        emu_outputs = emu.run(values)
    except EmulatorError as e:
        raise UserError(f"model {compiled.model!r}: {e}") from None
    emu_seconds = time.perf_counter() - started
    goldens = golden_outputs(module, inputs)
    report: dict = {"backend": args.backend, "config": args.config, "model": compiled.model}
    lines: list[str] = []
    problems: list[str] = []
    if args.backend == "emulator":
        outputs = emu_outputs
        stats = emu.stats()
        lines += ["  commands: " + ", ".join(f"{k} {n}" for k, n in stats["commands_by_kind"].items()),
                  "  firmware calls: " + ", ".join(f"{k} {n}" for k, n in stats["firmware_calls_by_kind"].items()),
                  f"  scratchpad peak {stats['scratchpad_peak_bytes']} bytes; emulated in {emu_seconds:.2f} s"]
        report.update(stats, wall_seconds=round(emu_seconds, 3))
    else:
        outputs = _run_rtl(args, compiled, program, blob, values, emu, emu_outputs, config, report, lines, problems)
    results = [compare(f"output{i}", got, ref) for i, (got, ref) in enumerate(zip(outputs, goldens))]
    passed = all(r.passed for r in results) and not problems
    print(f"model {compiled.model} on {args.backend} (config {args.config}): {'PASS' if passed else 'FAIL'}")
    print(f"  tolerance: cosine >= {MIN_COSINE}, max abs err <= {MAX_ABS_ERR_OF_RANGE:g} x max |golden|")
    for r in results:
        where = "" if r.first_bad_index is None else f", first bad element {list(r.first_bad_index)}"
        print(f"  {r.name} {list(r.shape)}: cosine {r.cosine:.6f}, max abs err {r.max_abs_err:.4g} "
              f"(tol {r.abs_tolerance:.4g}), max rel err {r.max_rel_err:.4g} -> "
              f"{'pass' if r.passed else 'FAIL'}{where}")
    for p in problems:
        print(f"  MISMATCH: {p}")
    for line in lines:
        print(line)
    if args.json:
        report.update(passed=passed, outputs=[r.as_dict() for r in results], problems=problems,
                      tolerance={"min_cosine": MIN_COSINE, "max_abs_err_of_range": MAX_ABS_ERR_OF_RANGE},
                      memory_plan=program.metadata["memory_plan"])
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0 if passed else EXIT_FAIL


def _run_rtl(args, compiled, program, blob, values, emu, emu_outputs, config, report, lines, problems):
    """Simulate on the RTL; check it against the emulator; fill in the report. Returns the outputs."""
    from runtime.rtl import trace
    from runtime.rtl.cosim import first_difference, intact_intermediates, run_rtl
    from runtime.rtl.waves import write_gtkw

    run_dir = _run_dir(compiled.model, args.config).resolve()
    try:
        rtl = run_rtl(blob, values, config, run_dir, waves=args.waves, progress=not args.verbose)
    except RuntimeError as e:  # the design did not build, or the simulator died
        raise UserError(f"model {compiled.model!r} on the RTL: {e}") from None
    if rtl.problem() is not None:
        raise UserError(f"model {compiled.model!r} on the RTL: {rtl.problem()}")
    # Bit for bit against the emulator: outputs, then the first intermediate that differs.
    for i, (got, want) in enumerate(zip(rtl.outputs, emu_outputs)):
        diff = first_difference(got, want)
        if diff is not None:
            problems.append(f"output{i}: {diff}")
    if problems:
        for name in intact_intermediates(program):
            diff = first_difference(rtl.intermediates[name], emu.read_tensor(name))
            if diff is not None:
                source = program.metadata["tensor_sources"].get(name, name)
                problems.append(f"first wrong intermediate: {name} (node {source}): {diff}")
                break
    emu_calls = [(r.kind, r.args, r.status, r.value) for r in emu.firmware.log]
    if rtl.firmware_calls != emu_calls:
        at = next((i for i, (a, b) in enumerate(zip(rtl.firmware_calls, emu_calls)) if a != b),
                  min(len(rtl.firmware_calls), len(emu_calls)))
        problems.append(f"firmware call sequences differ at call {at} ({len(rtl.firmware_calls)} on the RTL, "
                        f"{len(emu_calls)} on the emulator)")
    tl = trace.timeline(program, rtl.trace)
    c = rtl.counters
    cycles = c["cycles"]
    pes = config.array_rows * config.array_cols
    dma_bytes = sum(BF16_BYTES * a[3] * a[4] for k, a, _, _ in rtl.firmware_calls if k.name == "DMA")
    calls_by_kind: dict[str, int] = {}
    for k, *_ in rtl.firmware_calls:
        calls_by_kind[k.name] = calls_by_kind.get(k.name, 0) + 1
    speed = cycles / rtl.wall_seconds if rtl.wall_seconds > 0 else 0.0
    layers = trace.layer_cycles(program, tl)
    lines.append(f"  RTL equals emulator bit for bit: {'yes' if not problems else 'NO'}; firmware calls "
                 f"{'equal' if rtl.firmware_calls == emu_calls else 'DIFFER'} ({len(emu_calls)})")
    # The GEMM unit runs beside the command processor; the rest says where the command processor waited.
    lines.append(f"  cycles {cycles}: GEMM unit busy {c['gemm_cycles']}; command processor waiting on vector "
                 f"{c['vec_cycles']}, mailbox {c['mailbox_cycles']}, DMA {c['wait_cycles']}, GEMM queue "
                 f"{c['interlock_cycles']}, fetch {c['fetch_cycles']}")
    lines.append(f"  array utilization {c['mac_count'] / (cycles * pes):.2%} ({c['mac_count']} MACs on {pes} PEs)")
    lines.append(f"  DMA {dma_bytes} bytes, busy {tl.dma_busy_cycles()} cycles")
    lines.append("  mailbox calls: " + ", ".join(f"{k} {n}" for k, n in sorted(calls_by_kind.items())))
    lines.append("  cycles per layer: " + ", ".join(f"{node} {n}" for node, _, n in layers))
    lines.append(f"  simulated {cycles} cycles in {rtl.wall_seconds:.2f} s: {speed:,.0f} cycles/s")
    report.update(cycles=cycles, counters=c, array_utilization=c["mac_count"] / (cycles * pes), dma_bytes=dma_bytes,
                  dma_busy_cycles=tl.dma_busy_cycles(), mailbox_calls_by_kind=calls_by_kind,
                  layer_cycles={node: n for node, _, n in layers}, sim_cycles_per_second=speed,
                  wall_seconds=round(rtl.wall_seconds, 3), commands_by_kind=rtl.op_count,
                  firmware_calls_equal=rtl.firmware_calls == emu_calls, run_dir=str(run_dir))
    if args.trace:
        trace.write_trace(run_dir / "trace.json", program, tl)
        (run_dir / "mailbox.log").write_text(trace.mailbox_log(tl, (run_dir / "rtl_firmware_log.txt").read_text()
                                                               .splitlines()))
        lines.append(f"  trace: {run_dir / 'trace.json'} (open in ui.perfetto.dev), mailbox log: "
                     f"{run_dir / 'mailbox.log'}")
    if args.waves:
        dump = next((p for p in (run_dir / "sim").glob("dump.*")), None)
        if dump is not None:
            write_gtkw(run_dir / "waves.gtkw", dump, config)
            lines.append(f"  waves: {dump} (gtkwave {run_dir / 'waves.gtkw'})")
    return rtl.outputs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="atalla", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    model_help = "a zoo model (mlp, attention, host_fallback) or path/to/file.py:factory"

    def common(p):
        p.add_argument("model", help=model_help)
        p.add_argument("--config", default=DEFAULT_CONFIG, choices=sorted(CONFIGS), help="hardware config")
        p.add_argument("--decompose", action="store_true", help="lower the core-ATen decomposed graph")

    p = sub.add_parser("compile", help="compile a model to a blob")
    common(p)
    p.add_argument("-o", "--output", required=True, help="blob file to write")
    p.set_defaults(func=cmd_compile)
    p = sub.add_parser("inspect", help="print what a blob holds")
    p.add_argument("blob")
    p.set_defaults(func=cmd_inspect)
    p = sub.add_parser("run", help="compile, run, compare with PyTorch; exit 0 only on pass")
    common(p)
    p.add_argument("--backend", default="emulator", choices=["emulator", "rtl"],
                   help="the bit-exact emulator, or the Verilator-simulated RTL (checked against the emulator)")
    p.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    p.add_argument("--waves", nargs="?", const="vcd", choices=["vcd", "fst"],
                   help="rtl: dump a waveform (VCD, or FST where liblz4-dev is installed) and a GTKWave save file")
    p.add_argument("--trace", action="store_true", help="rtl: write a Perfetto timeline and a mailbox log")
    p.add_argument("--verbose", action="store_true",
                   help="rtl: show the Verilator and cocotb logs instead of a progress line")
    p.set_defaults(func=cmd_run)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UserError as e:
        print(f"atalla: error: {e}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
