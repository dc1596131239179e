"""`make bench`: every performance figure of the project, measured in one run, as ratios.

1. GEMM efficiency on the RTL: roofline-ideal cycles / measured cycles, and the padded-tile bound
   / measured cycles, both configs, beside SCALE-Sim's weight-stationary compute cycles for the
   same GEMM and array (SCALE-Sim failing stops the bench).
2. Co-simulation speed: simulated cycles per second of each zoo model, against a pure-Verilator
   replay of the same run (runtime/rtl/replay.py): co-sim speed / replay speed is what Python costs.
3. End to end: wall time of `atalla run mlp --backend rtl` (what `make sim` runs), warm and cold.
4. Emulator: time to run each zoo model's blob vs PyTorch eager on the same inputs.
5. Memory planner: DRAM peak vs the liveness lower bound, per zoo model.
6. The GPT-2-small decoder block (zoo gpt2_block) on atalla32's RTL: cycles, array utilization over
   the whole block, wall time and simulated cycles per second. (All of GPT-2: `make bench-gpt2`.)
7. C model: run time of `--backend cmodel` vs the emulator on mlp and GPT-2-shaped models (checked
   bit-exact first).

Prints one table per figure and writes bench/results.json and bench/efficiency.png.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from atalla.config import CONFIGS, HardwareConfig
from atalla.isa import BF16_BYTES
from compiler.driver import compile_model
from golden.reference import golden_outputs
from golden.zoo import REGRESSION_MODELS, ZOO
from runtime.check import check
from runtime.cmodel.backend import CModelBackend
from runtime.emulator import Emulator
from runtime.emulator.backend import EmulatorBackend
from runtime.interface import RunError
from runtime.rtl.backend import RtlBackend
from runtime.rtl.replay import replay

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench"
SPEED_REPEATS = 3  # co-simulation speed: best of this many runs
GEMM_SHAPES = [(64, 64, 64), (256, 256, 256), (512, 768, 256), (200, 200, 200), (384, 96, 160), (100, 300, 70)]  # (M, K, N)


class Gemm(torch.nn.Module):
    """C[M x N] = A[M x K] @ W[K x N], W a weight (a constant of the program)."""

    def __init__(self, k: int, n: int):
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(k, n) / math.sqrt(k))

    def forward(self, a):
        return a @ self.w


def roofline_cycles(m: int, k: int, n: int, cfg: HardwareConfig) -> float:
    """The larger of compute at one MAC per PE per cycle, and compulsory DRAM traffic (A, W, C once)."""
    compute = m * n * k / (cfg.array_rows * cfg.array_cols)
    traffic = BF16_BYTES * (m * k + k * n + m * n) / cfg.dma_bytes_per_cycle
    return max(compute, traffic)


def padded_tile_cycles(m: int, k: int, n: int, cfg: HardwareConfig) -> int:
    """Array cycles with every tile padded to the array: M rows through each of ceil(K/rows) x
    ceil(N/cols) weight tiles. Odd shapes cannot beat it; the roofline does not see the padding."""
    return m * math.ceil(k / cfg.array_rows) * math.ceil(n / cfg.array_cols)


def bank_stalls(run: dict) -> dict[str, int]:
    """Cycles each unit waited for a scratchpad bank port (docs/rtl.md, "Scratchpad")."""
    return {unit: run["counters"][f"{unit}_bank_stall_cycles"] for unit in ("gemm", "vec", "dma")}


def stalls_text(stalls: dict[str, int]) -> str:
    return "/".join(str(stalls[unit]) for unit in ("gemm", "vec", "dma"))


def gemm_efficiency(work: Path) -> list[dict]:
    rows = []
    reference = scalesim_reference()
    for config in ("small", "atalla32"):
        cfg = CONFIGS[config]
        try:
            ref = reference(GEMM_SHAPES, cfg.array_rows, cfg.array_cols)
        except Exception as e:  # the outside reference's own failure: its message says what
            raise SystemExit(f"SCALE-Sim failed on the {config} array: {e}") from None
        for m, k, n in GEMM_SHAPES:
            torch.manual_seed(0)
            module, a = Gemm(k, n), torch.randn(m, k)
            blob = compile_model(module, (a,), cfg, f"gemm{m}x{k}x{n}").blob()
            run = checked(blob, module, (a,), RtlBackend(work / f"gemm-{config}-{m}x{k}x{n}", quiet=True),
                          f"GEMM {m}x{k}x{n} on {config}")
            cycles = run["cycles"]
            ideal, padded = roofline_cycles(m, k, n, cfg), padded_tile_cycles(m, k, n, cfg)
            rows.append({"config": config, "m": m, "k": k, "n": n, "cycles": cycles, "roofline_cycles": ideal,
                         "efficiency": ideal / cycles, "padded_tile_cycles": padded,
                         "padded_tile_efficiency": padded / cycles, "scalesim_cycles": ref[(m, k, n)],
                         "utilization": run["array_utilization"], "sim_cycles_per_second": run["sim_cycles_per_second"],
                         "bank_stall_cycles": bank_stalls(run)})
            print(f"  gemm {m}x{k}x{n} on {config}: {cycles} cycles, {rows[-1]['efficiency']:.1%} of roofline",
                  file=sys.stderr)
    return rows


def checked(blob: bytes, module: torch.nn.Module, inputs: tuple, backend: RtlBackend, what: str) -> dict:
    """The run's figures, once runtime.check has passed it: bit-exact with the C model (the RTL's
    reference), within tolerance of PyTorch. A figure of a wrong run is no figure: the bench stops."""
    try:
        result = check(blob, [x.numpy() for x in inputs], golden_outputs(module, inputs), backend)
    except RunError as e:
        raise SystemExit(f"{what}: {e}") from None
    if not result.passed:
        raise SystemExit(f"{what}: the run failed its check: {result.mismatches or result.comparisons}")
    return result.stats


def scalesim_reference():
    """bench.scalesim_reference.scalesim_cycles; the bench stops, saying why, when SCALE-Sim cannot run
    (a table without its reference column would read as a comparison that was made)."""
    try:
        from bench.scalesim_reference import ensure_venv, scalesim_cycles

        ensure_venv()
        return scalesim_cycles
    except Exception as e:  # whatever setting up the outside reference raised, the user needs its cause
        raise SystemExit(f"SCALE-Sim, the GEMM reference, cannot run: {e}") from None


def cosim_speed(work: Path) -> list[dict]:
    """Each zoo model co-simulated, then replayed without Python (checked to reproduce the run
    exactly); both time the same window, from the start pulse to the end of the program. Best of
    SPEED_REPEATS each: the runs are short, and another process on the machine shows up in one run."""
    rows = []
    for model in REGRESSION_MODELS:
        module, inputs = ZOO[model]()
        blob = compile_model(module, inputs, CONFIGS["small"], model).blob()
        cosim_wall, replay_wall = [], []
        for _ in range(SPEED_REPEATS):
            run = checked(blob, module, inputs, RtlBackend(work / f"speed-{model}", quiet=True), f"co-simulating {model}")
            cosim_wall.append(run["wall_seconds"])
            replay_wall.append(replay(Path(run["run_dir"]), CONFIGS["small"]).wall_seconds)
        cycles = run["cycles"]
        rows.append({"model": model, "cycles": cycles, "mailbox_calls": sum(run["mailbox_calls_by_kind"].values()),
                     "wall_seconds": min(cosim_wall), "cycles_per_second": cycles / min(cosim_wall),
                     "replay_wall_seconds": min(replay_wall), "replay_cycles_per_second": cycles / min(replay_wall),
                     "cosim_over_replay": min(replay_wall) / min(cosim_wall)})
    return rows


def gpt2_block_on_atalla32(work: Path) -> dict:
    cfg = CONFIGS["atalla32"]
    module, inputs = ZOO["gpt2_block"]()
    blob = compile_model(module, inputs, cfg, "gpt2_block").blob()
    run = checked(blob, module, inputs, RtlBackend(work / "gpt2_block", quiet=True), "gpt2_block on atalla32")
    return {"model": "gpt2_block", "config": cfg.name, "cycles": run["cycles"],
            "array_utilization": run["array_utilization"], "wall_seconds": run["wall_seconds"],
            "sim_cycles_per_second": run["sim_cycles_per_second"], "bank_stall_cycles": bank_stalls(run)}


def end_to_end() -> dict:
    """Wall time of the command `make sim MODEL=mlp` runs, with the design built (warm) and not (cold)."""
    command = [sys.executable, "-m", "cli", "run", "mlp", "--backend", "rtl"]
    out = {}
    with tempfile.TemporaryDirectory() as cold_cache:
        for label, env in (("cold", {"ATALLA_SIM_BUILD": cold_cache}), ("warm", {})):
            started = time.perf_counter()
            result = subprocess.run(command, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True)
            out[f"{label}_seconds"] = time.perf_counter() - started
            if result.returncode != 0:
                raise SystemExit(f"make sim MODEL=mlp ({label}) failed:\n{result.stdout}{result.stderr}")
    return out


def emulator_vs_pytorch(repeats: int = 5) -> list[dict]:
    rows = []
    for model in REGRESSION_MODELS:
        module, inputs = ZOO[model]()
        program = compile_model(module, inputs, CONFIGS["small"], model).program
        values = [x.numpy() for x in inputs]

        def best(fn) -> float:
            times = []
            for _ in range(repeats):
                started = time.perf_counter()
                fn()
                times.append(time.perf_counter() - started)
            return min(times)

        with torch.no_grad():
            eager = best(lambda: module(*inputs))
        emulated = best(lambda: Emulator(program).run(values))
        rows.append({"model": model, "emulator_seconds": emulated, "pytorch_seconds": eager,
                     "ratio": emulated / eager})
    return rows


def cmodel_models() -> list[tuple[str, str, torch.nn.Module, tuple]]:
    """(name, config, module, inputs): mlp, the Hugging Face GPT-2 of the tests, the zoo's GPT-2-small block."""
    from golden.hf import gpt2

    torch.manual_seed(0)
    return [("mlp", "small", *ZOO["mlp"]()), ("gpt2 (2 layers, d 64)", "small", gpt2(), (torch.randn(2, 16, 64),)),
            ("gpt2_block", "atalla32", *ZOO["gpt2_block"]())]


def cmodel_vs_emulator(repeats: int = 5, emulator_budget_seconds: float = 30.0) -> list[dict]:
    """Each backend's own run time (its stats' wall_seconds: the run, not loading or start-up), best of
    `repeats` (the emulator: as many as fit its budget, at least one), once the C model's run has been
    checked bit-exact with the emulator's."""
    rows = []
    for name, config, module, inputs in cmodel_models():
        blob = compile_model(module, inputs, CONFIGS[config], name.split()[0]).blob()
        values = [x.numpy() for x in inputs]
        result = check(blob, values, None, CModelBackend())
        if not result.bit_exact or not result.firmware_calls_equal:
            raise SystemExit(f"cmodel on {name}: not bit-exact with the emulator: {result.mismatches}")

        def best(backend, limit: float) -> float:
            backend.init(blob)
            times: list[float] = []
            while len(times) < repeats and (not times or sum(times) < limit):
                backend.execute(values)
                times.append(backend.wall_seconds)
            return min(times)

        emulated, ours = best(EmulatorBackend(), emulator_budget_seconds), best(CModelBackend(), math.inf)
        rows.append({"model": name, "config": config, "commands": len(result.program.commands),
                     "emulator_seconds": emulated, "cmodel_seconds": ours, "speedup": emulated / ours})
        print(f"  cmodel on {name}: {rows[-1]['speedup']:.0f}x the emulator", file=sys.stderr)
    return rows


def memory_planner() -> list[dict]:
    rows = []
    for config in ("small", "atalla32"):
        for model in REGRESSION_MODELS:
            module, inputs = ZOO[model]()
            plan = compile_model(module, inputs, CONFIGS[config], model).program.metadata["memory_plan"]
            rows.append({"config": config, "model": model, **plan})
    return rows


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for config in ("small", "atalla32"):
        points = sorted((r["m"] * r["k"] * r["n"], r["efficiency"]) for r in rows if r["config"] == config)
        ax.plot([p[0] for p in points], [100 * p[1] for p in points], marker="o", label=config)
    ax.set_xscale("log")
    ax.set_ylim(0, 100)
    ax.set_xlabel("GEMM size M*K*N (MACs)")
    ax.set_ylabel("efficiency: roofline / measured cycles (%)")
    ax.set_title("GEMM efficiency on the RTL")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def table(title: str, header: list[str], rows: list[list]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda cells: "  ".join(str(c).rjust(w) for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join([title, line(header), line(["-" * w for w in widths]), *(line(r) for r in rows), ""])


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print("measuring GEMM efficiency on the RTL...", file=sys.stderr)
        gemms = gemm_efficiency(work)
        print("measuring co-simulation speed...", file=sys.stderr)
        speed = cosim_speed(work)
        print("running the GPT-2 block on atalla32 (minutes)...", file=sys.stderr)
        block = gpt2_block_on_atalla32(work)
    print("measuring end-to-end time (a cold build takes minutes)...", file=sys.stderr)
    e2e = end_to_end()
    emulator = emulator_vs_pytorch()
    planner = memory_planner()
    print("measuring the C model against the emulator...", file=sys.stderr)
    cmodel = cmodel_vs_emulator()
    results = {"gemm": gemms, "cosim_speed": speed, "end_to_end": e2e, "emulator": emulator,
               "memory_planner": planner, "gpt2_block": block, "cmodel": cmodel}
    (OUT / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(gemms, OUT / "efficiency.png")

    def fmt_ref(r):
        return f"{r['scalesim_cycles']} ({r['scalesim_cycles'] / r['cycles']:.2f}x)"

    print(table("1. GEMM efficiency on the RTL (roofline-ideal / measured cycles)",
                ["config", "M x K x N", "cycles", "roofline", "efficiency", "padded-tile bound", "of bound", "PE util",
                 "bank stalls GEMM/VEC/DMA", "SCALE-Sim WS cycles (theirs/ours)", "simulated cycles/s"],
                [[r["config"], f"{r['m']}x{r['k']}x{r['n']}", r["cycles"], f"{r['roofline_cycles']:.0f}",
                  f"{r['efficiency']:.1%}", r["padded_tile_cycles"], f"{r['padded_tile_efficiency']:.1%}",
                  f"{r['utilization']:.1%}", stalls_text(r["bank_stall_cycles"]), fmt_ref(r),
                  f"{r['sim_cycles_per_second']:,.0f}"] for r in gemms]))
    print(table(f"2. Co-simulation speed (config small, best of {SPEED_REPEATS}) against a pure-Verilator replay "
                "of the same run",
                ["model", "cycles", "mailbox calls", "co-sim s", "co-sim cycles/s", "replay s", "replay cycles/s",
                 "co-sim/replay"],
                [[r["model"], r["cycles"], r["mailbox_calls"], f"{r['wall_seconds']:.3f}",
                  f"{r['cycles_per_second']:,.0f}", f"{r['replay_wall_seconds']:.3f}",
                  f"{r['replay_cycles_per_second']:,.0f}", f"{r['cosim_over_replay']:.0%}"] for r in speed]))
    print(table("3. End to end: atalla run mlp --backend rtl (make sim MODEL=mlp)", ["build", "seconds"],
                [["cold", f"{e2e['cold_seconds']:.1f}"], ["warm", f"{e2e['warm_seconds']:.1f}"]]))
    print(table("4. Emulator vs PyTorch eager (best of 5)", ["model", "emulator s", "pytorch s", "ratio"],
                [[r["model"], f"{r['emulator_seconds']:.4f}", f"{r['pytorch_seconds']:.4f}", f"{r['ratio']:.0f}x"]
                 for r in emulator]))
    print(table("5. Memory planner: DRAM peak vs liveness lower bound", ["config", "model", "peak", "lower bound",
                                                                          "ratio"],
                [[r["config"], r["model"], r["peak_bytes"], r["lower_bound_bytes"],
                  f"{r['peak_over_lower_bound']:.3f}"] for r in planner]))
    print(table("6. The GPT-2-small decoder block on the RTL", ["model", "config", "cycles", "array utilization",
                                                                 "bank stalls GEMM/VEC/DMA", "wall s",
                                                                 "simulated cycles/s"],
                [[block["model"], block["config"], block["cycles"], f"{block['array_utilization']:.1%}",
                  stalls_text(block["bank_stall_cycles"]), f"{block['wall_seconds']:.0f}",
                  f"{block['sim_cycles_per_second']:,.0f}"]]))
    print(table("7. C model vs emulator (each one's run time, best of 5; bit-exact checked first)",
                ["model", "config", "commands", "emulator s", "cmodel s", "speedup"],
                [[r["model"], r["config"], r["commands"], f"{r['emulator_seconds']:.3f}", f"{r['cmodel_seconds']:.4f}",
                  f"{r['speedup']:.0f}x"] for r in cmodel]))
    print(f"wrote {OUT / 'results.json'} and {OUT / 'efficiency.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
