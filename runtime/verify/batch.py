"""Runs a batch of random programs on the emulator and the RTL in one simulation (tb_batch.py) and
reports which agree: `atalla verify random` and the regression call run_random."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from atalla.config import HardwareConfig
from runtime.rtl.build import run
from runtime.rtl.cosim import design


@dataclass
class BatchResult:
    config: str
    seed: int
    illegal: bool
    verdicts: list[dict]  # one per program, as tb_batch wrote them
    wall_seconds: float  # the whole batch, the build (if any) and the simulator's start included

    @property
    def failures(self) -> list[dict]:
        return [v for v in self.verdicts if v["problem"] is not None]

    def reproduce(self, index: int) -> str:
        """The one command that runs program `index` again."""
        return (f"atalla verify random --config {self.config} --seed {self.seed} --start {index} --count 1"
                + (" --illegal" if self.illegal else ""))

    def summary(self) -> str:
        n = len(self.verdicts)
        cycles = sum(v["cycles"] for v in self.verdicts)
        commands = sum(v["commands"] for v in self.verdicts)
        sim = sum(v["wall_seconds"] for v in self.verdicts)
        line = (f"{n} {'illegal' if self.illegal else 'legal'} programs on {self.config} (seed {self.seed}): "
                f"{n - len(self.failures)} agree, {len(self.failures)} differ; {commands} commands, "
                f"{cycles} RTL cycles; {n / sim if sim else 0:.1f} programs/s in the simulation, "
                f"{self.wall_seconds:.1f} s in all")
        if self.illegal:
            kinds = Counter(v["planted_fault"] for v in self.verdicts if v["problem"] is None)
            line += "\n  faults alike on both: " + ", ".join(f"{k} {c}" for k, c in sorted(kinds.items()))
        return line


def run_random(config: HardwareConfig, seed: int, count: int, run_dir: Path, *, start: int = 0,
               illegal: bool = False, coverage: bool = False) -> BatchResult:
    """Programs start .. start + count - 1 of this seed, in one simulation; RuntimeError if the
    simulation itself failed (a build error, a crash, the firmware raising). coverage: on the
    coverage build, leaving run_dir/sim/coverage.dat and the functional bins the bench sampled in
    run_dir/functional.json."""
    run_dir.mkdir(parents=True, exist_ok=True)
    verdicts = run_dir / "verdicts.json"
    verdicts.unlink(missing_ok=True)
    began = time.perf_counter()
    tests, failures = run(design(config, coverage), "runtime.verify.tb_batch", config=config,
                          settings={"seed": seed, "start": start, "count": count, "illegal": illegal,
                                    "verdicts": str(verdicts), "sample": coverage},
                          test_dir=run_dir / "sim", quiet=True)
    if failures or not verdicts.exists():
        raise RuntimeError(f"the random-program simulation failed; see {run_dir / 'sim' / 'sim.log'}")
    return BatchResult(config.name, seed, illegal, json.loads(verdicts.read_text()), time.perf_counter() - began)
