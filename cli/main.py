"""The `atalla` command: compile, inspect, run.

Errors the user can act on (a bad model, a bad blob, a program fault) print one line and exit
non-zero; a traceback means a bug in this tool.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections import Counter
from pathlib import Path

from atalla.config import CONFIGS, DEFAULT_CONFIG, get_config

EXIT_FAIL = 1  # ran, but an output is outside tolerance
EXIT_ERROR = 2  # could not run: bad model, blob, config or program
BLOB_SUFFIX = ".atb"
PTE_SUFFIX = ".pte"  # an ExecuTorch program (compiler/executorch.py lowers to one)


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
    compiled, module, inputs = _compile(args.model, args.config or DEFAULT_CONFIG, args.decompose)
    blob = compiled.blob()
    Path(args.output).write_bytes(blob)
    p = compiled.program
    print(compiled.partition_report())
    plan = p.metadata["memory_plan"]
    print(f"wrote {args.output}: {len(blob)} bytes, {len(p.commands)} commands, {len(p.host_ops)} host ops, "
          f"DRAM peak {plan['peak_bytes']} bytes ({plan['peak_over_lower_bound']:.3f}x the lower bound), "
          f"config {p.config.name}")
    if args.save_io:
        from atalla.blob_format import Role
        from golden.reference import golden_outputs
        from runtime import tensor_io

        stem = Path(args.output).with_suffix("")
        files = {Role.INPUT: stem.with_suffix(".inputs.npz"), Role.OUTPUT: stem.with_suffix(".golden.npz")}
        tensor_io.save(p, Role.INPUT, files[Role.INPUT], [x.numpy() for x in inputs])
        tensor_io.save(p, Role.OUTPUT, files[Role.OUTPUT], golden_outputs(module, inputs))
        print(f"wrote {files[Role.INPUT]} (the example inputs) and {files[Role.OUTPUT]} (PyTorch's outputs); run "
              f"the blob with: atalla run {args.output} --inputs {files[Role.INPUT]} --golden {files[Role.OUTPUT]}")
    return 0


def cmd_inspect(args) -> int:
    from runtime.loader import BlobError, load_file

    if Path(args.blob).suffix == PTE_SUFFIX:
        return _inspect_pte(args.blob)
    try:
        p = load_file(args.blob)
    except (BlobError, OSError) as e:
        raise UserError(f"{args.blob}: {e}") from None
    _print_blob(f"blob {args.blob}", p)
    return 0


def _print_blob(what: str, p, indent: str = "") -> None:
    from atalla.blob_format import VERSION_MAJOR, VERSION_MINOR, DType

    md = p.metadata
    cfg = p.config
    lines = [f"{what}: format {VERSION_MAJOR}.{VERSION_MINOR}, model {md.get('model')!r}, "
             f"compiler {md.get('compiler_version')}",
             f"config {cfg.name}: array {cfg.array_rows}x{cfg.array_cols}, scratchpad {cfg.sp_bytes} bytes "
             f"({cfg.sp_row_bytes}-byte rows, {cfg.sp_banks} banks, {cfg.sp_page_bytes}-byte pages), "
             f"DRAM {cfg.dram_bytes} bytes",
             f"tensors ({len(p.tensors)}):"]
    for i, t in enumerate(p.tensors):
        ids = f"  int32 row ids < {t.index_bound}" if t.dtype == DType.INT32 else ""
        lines.append(f"  {i:3} {t.role.name.lower():12} {t.name:32} {str(list(t.shape)):16} "
                     f"dram 0x{t.dram_offset:08x}..0x{t.dram_offset + t.nbytes:08x}{ids}")
    kinds = Counter(c.kind for c in p.commands)
    lines.append(f"commands ({len(p.commands)}) at dram 0x{p.program_dram_offset:08x}: "
                 + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    lines.append(f"host ops ({len(p.host_ops)}):")
    for i, h in enumerate(p.host_ops):
        lines.append(f"  {i:3} {h.target} args={json.dumps(h.args)} outputs={h.outputs}")
    plan = md.get("memory_plan", {})
    lines.append(f"memory plan: peak {plan.get('peak_bytes')} bytes, lower bound {plan.get('lower_bound_bytes')} "
                 f"bytes, without reuse {plan.get('tensor_bytes')} bytes; DRAM used {p.dram_bytes_used} bytes")
    print("\n".join(indent + line for line in lines))


def _read_pte(path: str):
    try:
        from runtime.executorch import DelegateError, read_pte
    except ImportError as e:
        raise UserError(f"{path}: reading an ExecuTorch program needs the executorch extra "
                        f"(pip install -c constraints.txt -e '.[executorch]'): {e}") from None
    try:
        return read_pte(path)
    except DelegateError as e:
        raise UserError(str(e)) from None


def _inspect_pte(path: str) -> int:
    """An ExecuTorch program: its instructions, then each Atalla delegate's blob as `inspect` shows a blob."""
    from runtime.executorch import BACKEND_ID
    from runtime.loader import BlobError, load

    pte = _read_pte(path)
    print(f"program {path}: {len(pte.instructions)} instructions, {len(pte.delegates)} delegates, "
          f"{len(pte.undelegated_ops())} ops outside them")
    for i, (kind, what) in enumerate(pte.instructions):
        print(f"  {i:3} " + (f"delegate {what.index} ({what.backend_id}, {len(what.payload)} bytes)"
                             if kind == "delegate" else f"op {what}"))
    for d in pte.delegates:
        if d.backend_id != BACKEND_ID:
            print(f"delegate {d.index}: {d.backend_id}, {len(d.payload)} bytes (not Atalla's: not inspected)")
            continue
        try:
            blob = load(d.payload)
        except BlobError as e:
            raise UserError(f"{path}: delegate {d.index}: {e}") from None
        _print_blob(f"delegate {d.index}: blob", blob, indent="  ")
    return 0


def _run_pte(args) -> int:
    """A fully delegated ExecuTorch program: each delegate on the backend, judged by the emulator
    and, with --golden, the outputs against the file."""
    from golden.reference import compare
    from runtime import tensor_io
    from runtime.emulator.backend import EmulatorBackend
    from runtime.executorch import DelegateError, io_tensors, run_pte
    from runtime.interface import RunError
    from runtime.loader import BlobError
    from runtime.rtl.backend import RtlBackend

    if args.inputs is None:
        raise UserError(f"running the program {args.model} needs --inputs FILE.npz (its inputs by name or arr_0, ...)")
    pte = _read_pte(args.model)
    name = Path(args.model).stem
    calls = itertools.count()  # each delegate call's RTL run gets a directory of its own
    if args.backend == "emulator":
        backend = EmulatorBackend
    else:
        backend = lambda: RtlBackend(_run_dir(f"{name}_delegate{next(calls)}", "pte"),  # noqa: E731
                                     progress=not args.verbose)
    try:
        ins, outs = io_tensors(pte)
        inputs = tensor_io.bind_tensors(ins, "input", tensor_io.read_arrays(args.inputs), args.inputs)
        goldens = (tensor_io.bind_tensors(outs, "output", tensor_io.read_arrays(args.golden), args.golden)
                   if args.golden else None)
        outputs, done = run_pte(pte, inputs, backend, get_config(args.config) if args.config else None)
    except (DelegateError, ValueError, RunError) as e:  # ValueError: a bad tensor file, config or blob
        raise UserError(f"{args.model}: {e}" if isinstance(e, BlobError) else str(e)) from None
    comparisons = [compare(f"output{i}", got, ref) for i, (got, ref) in enumerate(zip(outputs, goldens or []))]
    mismatches = [f"delegate call {i}: {m}" for i, r in enumerate(done) for m in r.mismatches]
    passed = all(c.passed for c in comparisons) and not mismatches
    print(f"program {args.model} on {args.backend}: {len(done)} Atalla delegate call(s): {'PASS' if passed else 'FAIL'}")
    for i, r in enumerate(done):
        print(f"  delegate call {i}: {len(r.program.commands)} commands, {r.firmware_calls} firmware calls"
              + ("" if args.backend == "emulator" else
                 f", RTL equals {r.reference} bit for bit: {'yes' if r.bit_exact else 'NO'}, cycles {r.stats['cycles']}"))
    if goldens is None:
        print("  no golden given (--golden FILE.npz): outputs not compared with PyTorch")
    for r in comparisons:
        print(f"  {r.name} {list(r.shape)}: cosine {r.cosine:.6f}, max abs err {r.max_abs_err:.4g} "
              f"(tol {r.abs_tolerance:.4g}) -> {'pass' if r.passed else 'FAIL'}")
    for problem in mismatches:
        print(f"  MISMATCH: {problem}")
    if args.outputs:
        import numpy as np

        np.savez(args.outputs, **{f"output{i}": o for i, o in enumerate(outputs)})
        print(f"  outputs: {args.outputs}")
    return 0 if passed else EXIT_FAIL


def _run_dir(model: str, config: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in model)
    return Path("out") / f"{safe}-{config}"


def _what_to_run(args):
    """(what it is, its name, blob, program, inputs, goldens or None) for a model or a blob file (*.atb)."""
    from atalla.blob_format import Role
    from golden.reference import golden_outputs
    from runtime import tensor_io
    from runtime.loader import BlobError, load

    if Path(args.model).suffix == BLOB_SUFFIX:
        if args.inputs is None:
            raise UserError(f"running the blob {args.model} needs --inputs FILE.npz (atalla compile --save-io "
                            "writes one beside the blob)")
        try:
            blob = Path(args.model).read_bytes()
            program = load(blob, expect_config=get_config(args.config) if args.config else None)
            inputs = tensor_io.load(program, Role.INPUT, args.inputs)
            goldens = tensor_io.load(program, Role.OUTPUT, args.golden) if args.golden else None
        except (OSError, ValueError) as e:  # a bad blob, config file or tensor file
            raise UserError(f"{args.model}: {e}" if isinstance(e, BlobError) else str(e)) from None
        return f"blob {args.model}", Path(args.model).stem, blob, program, inputs, goldens
    if args.inputs or args.golden:
        raise UserError("--inputs and --golden are for blob runs (atalla run model.atb); a model brings its own "
                        "example inputs and PyTorch computes its golden")
    compiled, module, inputs = _compile(args.model, args.config or DEFAULT_CONFIG, args.decompose)
    return (f"model {compiled.model}", compiled.model, compiled.blob(), compiled.program, [x.numpy() for x in inputs],
            golden_outputs(module, inputs))


def cmd_run(args) -> int:
    if Path(args.model).suffix == PTE_SUFFIX:
        return _run_pte(args)
    from atalla.blob_format import Role
    from golden.reference import MAX_ABS_ERR_OF_RANGE, MIN_COSINE
    from runtime import tensor_io
    from runtime.check import check
    from runtime.emulator.backend import EmulatorBackend
    from runtime.interface import RunError
    from runtime.rtl.backend import RtlBackend, RtlError

    what, name, blob, program, inputs, goldens = _what_to_run(args)
    config = program.config
    if args.backend == "emulator":
        backend = EmulatorBackend()
    elif args.backend == "cmodel":
        from runtime.cmodel.backend import CModelBackend

        backend = CModelBackend()
    else:
        backend = RtlBackend(_run_dir(name, config.name), waves=args.waves, trace=args.trace,
                             progress=not args.verbose)
    try:  # the blob is what would ship: it is loaded and validated, not taken from the compiler's memory
        result = check(blob, inputs, goldens, backend, expect_config=config, reference=args.reference)
    except RunError as e:
        raise UserError(f"{what}{' on the RTL' if isinstance(e, RtlError) else ''}: {e}") from None
    print(f"{what} on {args.backend} (config {config.name}): {'PASS' if result.passed else 'FAIL'}")
    if goldens is None:
        print("  no golden given (--golden FILE.npz): outputs not compared with PyTorch")
    else:
        print(f"  tolerance: cosine >= {MIN_COSINE}, max abs err <= {MAX_ABS_ERR_OF_RANGE:g} x max |golden|")
    for r in result.comparisons:
        where = "" if r.first_bad_index is None else f", first bad element {list(r.first_bad_index)}"
        print(f"  {r.name} {list(r.shape)}: cosine {r.cosine:.6f}, max abs err {r.max_abs_err:.4g} "
              f"(tol {r.abs_tolerance:.4g}), max rel err {r.max_rel_err:.4g} -> "
              f"{'pass' if r.passed else 'FAIL'}{where}")
    for problem in result.mismatches:
        print(f"  MISMATCH: {problem}")
    stats = result.stats
    for line in (_rtl_lines if args.backend == "rtl" else _functional_lines)(result, stats):
        print(line)
    if args.outputs:
        tensor_io.save(program, Role.OUTPUT, args.outputs, result.outputs)
        print(f"  outputs: {args.outputs}")
    if args.json:
        report = {"backend": args.backend, "reference": result.reference, "config": config.name,
                  "model": program.metadata.get("model"), **stats}
        if args.backend != "emulator":
            report["firmware_calls_equal"] = result.firmware_calls_equal
        report.update(passed=result.passed, outputs=[r.as_dict() for r in result.comparisons],
                      problems=result.mismatches,
                      tolerance={"min_cosine": MIN_COSINE, "max_abs_err_of_range": MAX_ABS_ERR_OF_RANGE},
                      memory_plan=result.program.metadata["memory_plan"])
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0 if result.passed else EXIT_FAIL


def _functional_lines(result, stats: dict) -> list[str]:
    """The emulator's and the C model's report."""
    lines = ["  commands: " + ", ".join(f"{k} {n}" for k, n in stats["commands_by_kind"].items()),
             "  firmware calls: " + ", ".join(f"{k} {n}" for k, n in stats["firmware_calls_by_kind"].items()),
             f"  scratchpad peak {stats['scratchpad_peak_bytes']} bytes; ran in {stats['wall_seconds']:.3f} s"]
    if result.backend != "emulator":
        calls = "equal" if result.firmware_calls_equal else "DIFFER"
        lines.insert(0, f"  {result.backend} equals {result.reference} bit for bit: {'yes' if result.bit_exact else 'NO'}; "
                        f"firmware calls {calls} ({result.firmware_calls})")
    return lines


def _rtl_lines(result, stats: dict) -> list[str]:
    c, files = stats["counters"], stats["files"]
    lines = [f"  RTL equals {result.reference} bit for bit: {'yes' if result.bit_exact else 'NO'}; firmware calls "
             f"{'equal' if result.firmware_calls_equal else 'DIFFER'} ({result.firmware_calls})",
             # The GEMM unit runs beside the command processor; the rest says where the command processor waited.
             f"  cycles {stats['cycles']}: GEMM unit busy {c['gemm_cycles']}; command processor waiting on vector "
             f"{c['vec_cycles']}, mailbox {c['mailbox_cycles']}, DMA {c['wait_cycles']}, GEMM queue "
             f"{c['interlock_cycles']}, fetch {c['fetch_cycles']}",
             f"  array utilization {stats['array_utilization']:.2%} ({c['mac_count']} MACs on {stats['pes']} PEs)",
             f"  DMA {stats['dma_bytes']} bytes, busy {stats['dma_busy_cycles']} cycles",
             f"  scratchpad bank conflicts (cycles a unit waited for a bank port): GEMM {c['gemm_bank_stall_cycles']}, "
             f"vector {c['vec_bank_stall_cycles']}, DMA {c['dma_bank_stall_cycles']}",
             "  mailbox calls: " + ", ".join(f"{k} {n}" for k, n in stats["mailbox_calls_by_kind"].items()),
             "  cycles per layer: " + ", ".join(f"{node} {n}" for node, n in stats["layer_cycles"].items()),
             f"  simulated {stats['cycles']} cycles in {stats['wall_seconds']:.2f} s: "
             f"{stats['sim_cycles_per_second']:,.0f} cycles/s"]
    if "trace" in files:
        lines.append(f"  trace: {files['trace']} (open in ui.perfetto.dev), mailbox log: {files['mailbox_log']}")
    if "waves" in files:
        lines.append(f"  waves: {files['waves']} (gtkwave {files['gtkw']})")
    return lines


def cmd_verify_random(args) -> int:
    """Random ISA programs on the emulator and the RTL, compared; exit 0 only if every one agrees."""
    import tempfile

    from runtime.verify import run_seed
    from runtime.verify.batch import run_random

    try:
        config = get_config(args.config)
    except ValueError as e:
        raise UserError(str(e)) from None
    seed = run_seed(args.seed)
    programs = _shard_range(args.start, args.count, args.shard)
    first, count = programs.start, len(programs)
    run_dir = Path(args.run_dir) if args.run_dir else Path(tempfile.mkdtemp(prefix="atalla-verify-"))
    print(f"seed {seed}: programs {first}..{first + count - 1} on {config.name}"
          f"{' with one planted bad command each' if args.illegal else ''} (run directory {run_dir})")
    try:
        result = run_random(config, seed, count, run_dir, start=first, illegal=args.illegal)
    except RuntimeError as e:
        raise UserError(str(e)) from None
    print(result.summary())
    for v in result.failures:
        planted = f" (planted: {v['planted']})" if v["planted"] else ""
        print(f"  program {v['index']}{planted}: {v['problem']}\n    reproduce: {result.reproduce(v['index'])}")
    return EXIT_FAIL if result.failures else 0


def _shard_range(start: int, count: int, shard_spec: str) -> range:
    from runtime.verify import shard_range

    try:
        return shard_range(start, count, shard_spec)
    except ValueError as e:
        raise UserError(str(e)) from None


def cmd_verify_segments(args) -> int:
    """A long run on the RTL cut at layer boundaries: each segment from the emulator's DRAM at its
    start, in parallel, checked byte for byte; exit 0 only if every segment of the shard agrees."""
    import tempfile

    from runtime.emulator.machine import EmulatorError
    from runtime.verify import segments

    if (args.segments is None) == (args.cuts is None):
        raise UserError("give --segments N (cut at the layer boundaries nearest equal shares) or --cuts I,J,...")
    what, name, _, program, inputs, _ = _what_to_run(args)
    try:
        cuts = (segments.choose_cuts(program, args.segments) if args.cuts is None
                else [int(c) for c in args.cuts.split(",") if c])
        plan = segments.plan(program, cuts)
    except ValueError as e:
        raise UserError(f"{what}: {e}") from None
    mine = [plan[i] for i in _shard_range(0, len(plan), args.shard)]
    parallel = args.jobs or segments.default_jobs()
    print(f"{what} (config {program.config.name}): {len(program.commands)} commands in {len(plan)} segments, cut "
          f"before commands {', '.join(map(str, cuts)) or '(none)'}; segments "
          f"{', '.join(str(s.index) for s in mine) or '(none)'} here (shard {args.shard}), {parallel} at once")
    try:
        jobs = segments.checkpoints(program, inputs, mine)
    except (EmulatorError, ValueError) as e:  # a cut where the machine holds more than DRAM, or a bad input
        raise UserError(f"{what}: {e}") from None
    run_dir = Path(args.run_dir) if args.run_dir else Path(tempfile.mkdtemp(prefix=f"atalla-segments-{name}-"))
    print(f"  the emulator's checkpoints taken; simulating (run directory {run_dir})")
    reports = segments.run_segments(program, jobs, run_dir, parallel)
    for r in reports:
        first, stop = r["commands"]
        verdict = "equal to the emulator byte for byte" if r["passed"] else f"DIFFERS: {r['problem']}"
        print(f"  segment {r['segment']}: commands {first}..{stop - 1} ({', '.join(r['layers']) or 'no node start'}), "
              f"{r['cycles'] if r['cycles'] is not None else '?'} cycles, {r['firmware_calls']} firmware calls: {verdict}")
    print("  cycles are per segment: each starts on an idle machine and drains at its end, so their sum "
          f"({sum(r['cycles'] or 0 for r in reports)}) is not the whole run's figure")
    if args.report:
        segments.write_reports(Path(args.report), reports)
        print(f"  report: {args.report} (a segment a line; the shards' reports merge by concatenation)")
    failed = [r for r in reports if not r["passed"]]
    print(f"{'FAIL' if failed else 'PASS'}: {len(reports) - len(failed)} of {len(reports)} segments agree")
    return EXIT_FAIL if failed else 0


def cmd_verify_fuzz(args) -> int:
    """Mutated blobs through the loader, the emulator and the C loader; exit 0 only if none crashes."""
    from runtime.verify import fuzz, run_seed

    c_loader = None if args.no_c_loader else fuzz.c_loader()
    if isinstance(c_loader, str):
        print(f"C loader not compared (it could not be built: {c_loader})")
        c_loader = None
    judge = fuzz.Judge(c_loader)
    if args.replay:
        crashed = 0
        for path in args.replay:
            try:
                blob = Path(path).read_bytes()
            except OSError as e:
                raise UserError(str(e)) from None
            verdict = judge(blob)
            crashed += verdict.outcome == fuzz.CRASH
            print(f"{path}: {verdict.describe()}")
        return EXIT_FAIL if crashed else 0
    seed = run_seed(args.seed)
    indices = _shard_range(args.start, args.count, args.shard)
    out = Path(args.out)
    print(f"seed {seed}: cases {indices.start}..{indices.stop - 1} (crashing blobs go to {out}/)")
    result = fuzz.run_fuzz(seed, indices, judge, out)
    print(result.summary())
    for case, verdict, path in result.crashes:
        print(f"  {case.describe()}\n    {verdict.describe()}\n    reproduce: atalla verify fuzz --replay {path}"
              f"  (or: atalla verify fuzz --seed {seed} --start {case.index} --count 1)")
    return EXIT_FAIL if result.crashes else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="atalla", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    model_help = ("a zoo model (mlp, attention, mha, host_fallback, basic_module, vit_micro, alexnet_small, "
                  "gpt2_block, gpt2) or path/to/file.py:factory")

    def common(p, what: str = model_help):
        p.add_argument("model", help=what)
        p.add_argument("--config", metavar="NAME|FILE.json",
                       help=f"hardware config: {', '.join(CONFIGS)}, or a JSON file of its fields "
                            f"(default: {DEFAULT_CONFIG} for a model; for a blob, its own)")
        p.add_argument("--decompose", action="store_true", help="lower the core-ATen decomposed graph")

    p = sub.add_parser("compile", help="compile a model to a blob")
    common(p)
    p.add_argument("-o", "--output", required=True, help="blob file to write")
    p.add_argument("--save-io", action="store_true",
                   help="also write the example inputs and PyTorch's outputs beside the blob (.inputs.npz, .golden.npz)")
    p.set_defaults(func=cmd_compile)
    p = sub.add_parser("inspect", help="print what a blob (or an ExecuTorch program's Atalla delegates) holds")
    p.add_argument("blob", help=f"a blob (*{BLOB_SUFFIX}) or an ExecuTorch program (*{PTE_SUFFIX})")
    p.set_defaults(func=cmd_inspect)
    p = sub.add_parser("run", help="compile (or load a blob), run, compare; exit 0 only on pass")
    common(p, f"{model_help}, a blob file (*{BLOB_SUFFIX}) or a fully delegated ExecuTorch program (*{PTE_SUFFIX})")
    p.add_argument("--inputs", metavar="FILE.npz", help="a blob's inputs, by input tensor name or arr_0, arr_1, ...")
    p.add_argument("--golden", metavar="FILE.npz", help="a blob's expected outputs, compared as PyTorch's are")
    p.add_argument("--outputs", metavar="FILE.npz", help="write the outputs, by output tensor name")
    p.add_argument("--backend", default="emulator", choices=["emulator", "cmodel", "rtl"],
                   help="the bit-exact emulator, the C model (fast, runtime/c; checked against the emulator), or "
                        "the Verilator-simulated RTL (checked against the C model, or --reference)")
    p.add_argument("--reference", choices=["emulator", "cmodel"],
                   help="the functional model the run is compared with bit for bit (default: the emulator; the C "
                        "model for an RTL run)")
    p.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    p.add_argument("--waves", nargs="?", const="vcd", choices=["vcd", "fst"],
                   help="rtl: dump a waveform (VCD, or FST where liblz4-dev is installed) and a GTKWave save file")
    p.add_argument("--trace", action="store_true", help="rtl: write a Perfetto timeline and a mailbox log")
    p.add_argument("--verbose", action="store_true",
                   help="rtl: show the Verilator and cocotb logs instead of a progress line")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("verify", help="verification tools")
    verify = p.add_subparsers(dest="tool", required=True)
    p = verify.add_parser("random", help="random ISA programs on the emulator and the RTL, compared bit for bit; "
                                         "exit 0 only if all agree")
    p.add_argument("--count", type=int, default=200, help="programs to run (default 200)")
    p.add_argument("--seed", type=int, help="the run's seed (default: $ATALLA_VERIFY_SEED, else from the clock; printed)")
    p.add_argument("--start", type=int, default=0, help="index of the first program (default 0)")
    p.add_argument("--config", default=DEFAULT_CONFIG, metavar="NAME|FILE.json",
                   help=f"hardware config: {', '.join(CONFIGS)}, or a JSON file (default {DEFAULT_CONFIG})")
    p.add_argument("--illegal", action="store_true",
                   help="plant one bad command in each program: both backends must stop alike")
    p.add_argument("--shard", default="0/1", metavar="I/N", help="run the I-th of N equal slices of the programs")
    p.add_argument("--run-dir", metavar="DIR", help="where the simulation's files go (default: a new temp dir)")
    p.set_defaults(func=cmd_verify_random)
    p = verify.add_parser("segments", help="a long run on the RTL cut at layer boundaries, the segments simulated in "
                                           "parallel from the emulator's DRAM at their starts and checked byte for "
                                           "byte; exit 0 only if all agree")
    common(p, f"{model_help}, or a blob file (*{BLOB_SUFFIX}) with --inputs")
    p.add_argument("--inputs", metavar="FILE.npz", help="a blob's inputs, by input tensor name or arr_0, arr_1, ...")
    p.add_argument("--segments", type=int, metavar="N",
                   help="cut into N segments of about equal command counts, at the nearest layer boundaries")
    p.add_argument("--cuts", metavar="I,J,...", help="cut before these commands instead (each where the machine "
                                                      "holds nothing but DRAM)")
    p.add_argument("--jobs", type=int, metavar="J", help="simulations at once (default: the cores there are)")
    p.add_argument("--shard", default="0/1", metavar="I/N", help="run the I-th of N equal slices of the segments")
    p.add_argument("--report", metavar="FILE.jsonl", help="write each segment's report as a line of JSON")
    p.add_argument("--run-dir", metavar="DIR", help="where the simulations' files go (default: a new temp dir)")
    p.set_defaults(func=cmd_verify_segments, golden=None)
    p = verify.add_parser("fuzz", help="mutated blobs (CRCs fixed) through the loader, the emulator and the C loader; "
                                       "exit 0 only if every one ends in a documented error or a normal run")
    p.add_argument("--count", type=int, default=10000, help="cases to run (default 10000)")
    p.add_argument("--seed", type=int, help="the run's seed (default: from the clock; printed)")
    p.add_argument("--start", type=int, default=0, help="index of the first case (default 0)")
    p.add_argument("--shard", default="0/1", metavar="I/N", help="run the I-th of N equal slices of the cases")
    p.add_argument("--out", default="fuzz-crashes", metavar="DIR",
                   help="where each crashing blob is written, with its case as JSON (default fuzz-crashes)")
    p.add_argument("--replay", nargs="+", metavar="BLOB", help="judge these blob files instead of generating cases")
    p.add_argument("--no-c-loader", action="store_true", help="do not compare the C loader's verdicts")
    p.set_defaults(func=cmd_verify_fuzz)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UserError as e:
        print(f"atalla: error: {e}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
