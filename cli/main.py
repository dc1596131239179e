"""The `atalla` command: compile, inspect, run.

Errors the user can act on (a bad model, a bad blob, a program fault) print one line and exit
non-zero; a traceback means a bug in this tool.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from atalla.config import CONFIGS, DEFAULT_CONFIG, get_config

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
    from golden.reference import MAX_ABS_ERR_OF_RANGE, MIN_COSINE, golden_outputs
    from runtime.check import check
    from runtime.emulator.backend import EmulatorBackend
    from runtime.interface import RunError
    from runtime.rtl.backend import RtlBackend, RtlError

    compiled, module, inputs = _compile(args.model, args.config, args.decompose)
    config = get_config(args.config)
    if args.backend == "emulator":
        backend = EmulatorBackend()
    else:
        backend = RtlBackend(_run_dir(compiled.model, args.config), waves=args.waves, trace=args.trace,
                             progress=not args.verbose)
    try:  # the blob is what would ship: it is loaded and validated, not taken from the compiler's memory
        result = check(compiled.blob(), [x.numpy() for x in inputs], golden_outputs(module, inputs), backend,
                       expect_config=config)
    except RunError as e:
        raise UserError(f"model {compiled.model!r}{' on the RTL' if isinstance(e, RtlError) else ''}: {e}") from None
    print(f"model {compiled.model} on {args.backend} (config {args.config}): {'PASS' if result.passed else 'FAIL'}")
    print(f"  tolerance: cosine >= {MIN_COSINE}, max abs err <= {MAX_ABS_ERR_OF_RANGE:g} x max |golden|")
    for r in result.comparisons:
        where = "" if r.first_bad_index is None else f", first bad element {list(r.first_bad_index)}"
        print(f"  {r.name} {list(r.shape)}: cosine {r.cosine:.6f}, max abs err {r.max_abs_err:.4g} "
              f"(tol {r.abs_tolerance:.4g}), max rel err {r.max_rel_err:.4g} -> "
              f"{'pass' if r.passed else 'FAIL'}{where}")
    for problem in result.mismatches:
        print(f"  MISMATCH: {problem}")
    stats = result.stats
    for line in (_emulator_lines if args.backend == "emulator" else _rtl_lines)(result, stats):
        print(line)
    if args.json:
        report = {"backend": args.backend, "config": args.config, "model": compiled.model, **stats}
        if args.backend == "rtl":
            report["firmware_calls_equal"] = result.firmware_calls_equal
        report.update(passed=result.passed, outputs=[r.as_dict() for r in result.comparisons],
                      problems=result.mismatches,
                      tolerance={"min_cosine": MIN_COSINE, "max_abs_err_of_range": MAX_ABS_ERR_OF_RANGE},
                      memory_plan=result.program.metadata["memory_plan"])
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0 if result.passed else EXIT_FAIL


def _emulator_lines(result, stats: dict) -> list[str]:
    return ["  commands: " + ", ".join(f"{k} {n}" for k, n in stats["commands_by_kind"].items()),
            "  firmware calls: " + ", ".join(f"{k} {n}" for k, n in stats["firmware_calls_by_kind"].items()),
            f"  scratchpad peak {stats['scratchpad_peak_bytes']} bytes; emulated in {stats['wall_seconds']:.2f} s"]


def _rtl_lines(result, stats: dict) -> list[str]:
    c, files = stats["counters"], stats["files"]
    lines = [f"  RTL equals emulator bit for bit: {'yes' if result.bit_exact else 'NO'}; firmware calls "
             f"{'equal' if result.firmware_calls_equal else 'DIFFER'} ({result.firmware_calls})",
             # The GEMM unit runs beside the command processor; the rest says where the command processor waited.
             f"  cycles {stats['cycles']}: GEMM unit busy {c['gemm_cycles']}; command processor waiting on vector "
             f"{c['vec_cycles']}, mailbox {c['mailbox_cycles']}, DMA {c['wait_cycles']}, GEMM queue "
             f"{c['interlock_cycles']}, fetch {c['fetch_cycles']}",
             f"  array utilization {stats['array_utilization']:.2%} ({c['mac_count']} MACs on {stats['pes']} PEs)",
             f"  DMA {stats['dma_bytes']} bytes, busy {stats['dma_busy_cycles']} cycles",
             "  mailbox calls: " + ", ".join(f"{k} {n}" for k, n in stats["mailbox_calls_by_kind"].items()),
             "  cycles per layer: " + ", ".join(f"{node} {n}" for node, n in stats["layer_cycles"].items()),
             f"  simulated {stats['cycles']} cycles in {stats['wall_seconds']:.2f} s: "
             f"{stats['sim_cycles_per_second']:,.0f} cycles/s"]
    if "trace" in files:
        lines.append(f"  trace: {files['trace']} (open in ui.perfetto.dev), mailbox log: {files['mailbox_log']}")
    if "waves" in files:
        lines.append(f"  waves: {files['waves']} (gtkwave {files['gtkw']})")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="atalla", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    model_help = "a zoo model (mlp, attention, mha, host_fallback) or path/to/file.py:factory"

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
