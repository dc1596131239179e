"""The pure-Verilator baseline of co-simulation speed: a co-simulation run replayed without Python.

tb_cosim.py records everything Python put into a run (rtl_recording.bin, recording.py);
rtl/tb/replay_main.cpp, built from the same design, parameters and Verilator flags as the
co-simulation, applies the recording at its simulation times. replay() runs it on a run
directory of run_rtl and checks that it reproduced the run exactly (how it ended, the cycle and
every counter, the trace events, the outputs and intact intermediates bit for bit) before
reporting its speed: co-simulation cycles/s over replay cycles/s is then Python's cost alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from atalla.blob_format import Role
from atalla.config import HardwareConfig
from runtime import image
from runtime.loader import load_file
from runtime.rtl.build import BUILD_ROOT, RTL, build_once, tool_env
from runtime.rtl.cosim import design
from runtime.rtl.params import parameter_flags
from runtime.rtl.recording import Recording
from runtime.rtl.results import RunFiles, ending

REPLAY_MAIN = "tb/replay_main.cpp"


class ReplayMismatch(RuntimeError):
    """The replay did not reproduce the co-simulation run."""


@dataclass
class ReplayRun:
    cycles: int
    wall_seconds: float  # the window the co-simulation timed: from the start pulse to the end

    @property
    def cycles_per_second(self) -> float:
        return self.cycles / self.wall_seconds


def build(config: HardwareConfig) -> Path:
    """The replay executable for a config, built once per content into sim_build/replay-<hash>."""
    dut = design(config)
    # The co-simulation's Verilator arguments (cocotb's runner adds the first five and the timescale)
    # with replay_main.cpp in place of cocotb's main: the same model, only the driver differs.
    args = ["--top-module", dut.top, "--vpi", "--public-flat-rw", "--prefix", "Vtop", *dut.build_args(None),
            "--timescale", "1ns/1ps", *parameter_flags(dut.parameters)]
    key = hashlib.sha256(repr((dut.key(None), args)).encode() + (RTL / REPLAY_MAIN).read_bytes()).hexdigest()[:12]
    build_dir = BUILD_ROOT / f"replay-{key}"

    def make(tmp: Path, log: Path) -> None:
        tmp.mkdir()
        command = ["verilator", "--cc", "--exe", "--build", "-j", str(os.cpu_count() or 1), "-Mdir", str(tmp),
                   "-o", "replay", *args, str(RTL / REPLAY_MAIN), *(str(RTL / s) for s in dut.sources)]
        with log.open("w") as out:
            done = subprocess.run(command, env={**os.environ, **tool_env()}, stdout=out, stderr=subprocess.STDOUT)
        if done.returncode != 0:
            raise RuntimeError(f"building the replay of {dut.top} failed: see {log}")

    return build_once(build_dir, "replay", make) / "replay"


def replay(run_dir: Path, config: HardwareConfig) -> ReplayRun:
    """Replay the co-simulation run in run_dir (left by run_rtl); raise ReplayMismatch naming every
    difference from the co-simulation."""
    exe = build(config)
    files = RunFiles(run_dir)
    out = run_dir / "replay"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    if not files.recording.exists():
        raise FileNotFoundError(f"{files.recording}: no recording; run the co-simulation (run_rtl) first")
    done = subprocess.run([str(exe), str(files.recording), str(out)], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the replay of {run_dir} failed: {(done.stderr or done.stdout).strip()}")
    result = json.loads((out / "replay_result.json").read_text())
    cosim = json.loads(files.result.read_text())
    problems = _differences(files, out, result, cosim, Recording.load(files.recording).end_time)
    if problems:
        raise ReplayMismatch(f"the replay of {run_dir} differs from the co-simulation: " + "; ".join(problems))
    return ReplayRun(cycles=cosim["counters"]["cycles"], wall_seconds=result["wall_seconds"])


def _differences(files: RunFiles, out: Path, result: dict, cosim: dict, end_time: int) -> list[str]:
    """Every way the replay (its result file and final DRAM in `out`) differs from the co-simulation."""
    signals = {name: int(value, 16) for name, value in result["signals"].items()}
    program = load_file(files.blob)

    def flat(ended: dict, time: int) -> dict:
        """How a run ended, one entry per figure, so that each difference is named."""
        return {**{k: ended[k] for k in ("status", "command_index", "command", "fault", "fault_status")},
                "end time (ps)": time, **ended["counters"],
                **{f"op_count {name}": n for name, n in ended["op_count"].items()}}

    replayed = flat(ending(program, result["status"], signals.__getitem__), result["sim_time"])
    expected = flat(cosim, end_time)
    problems = [f"{name}: co-sim {expected[name]}, replay {replayed.get(name)}" for name in expected
                if replayed.get(name) != expected[name]]

    trace = np.load(files.trace)
    got = np.frombuffer((out / "replay_trace.bin").read_bytes(), trace.dtype)
    if not np.array_equal(got, trace):
        n = min(len(got), len(trace))
        at = int(next(iter(np.flatnonzero(got[:n] != trace[:n])), n))

        def show(events: np.ndarray):
            return tuple(int(events[at][f]) for f in ("cycle", "kind", "a", "b")) if at < len(events) else "none"

        problems.append(f"trace: {len(trace)} events in the co-sim, {len(got)} in the replay, first difference at "
                        f"event {at} (cycle, kind, a, b): co-sim {show(trace)}, replay {show(got)}")

    raw = (out / "replay_dram.bin").read_bytes()
    dram = np.zeros(program.config.dram_bytes, np.uint8)
    dram[: len(raw)] = np.frombuffer(raw, np.uint8)
    outputs, tensors = np.load(files.outputs), np.load(files.tensors)
    checks = [(f"output{i}", t, outputs[f"output{i}"]) for i, t in enumerate(program.by_role(Role.OUTPUT))]
    checks += [(t.name, t, tensors[t.name]) for t in program.tensors if t.role == Role.INTERMEDIATE]
    for name, tensor, want in checks:
        bad = np.flatnonzero(image.read_tensor(dram, tensor).view(np.uint32) != want.view(np.uint32))
        if len(bad):
            problems.append(f"{name}: {len(bad)} of {want.size} values differ, the first at flat index {bad[0]}")
    return problems
