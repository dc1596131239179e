"""Verification tools: constrained-random command programs (generator.py) run on the emulator and
the RTL in one simulation and compared bit for bit (batch.py, tb_batch.py inside the simulator)."""

import os
import time

SEED_ENV = "ATALLA_VERIFY_SEED"


def run_seed(given: int | None = None) -> int:
    """A random run's seed: the one given, else $ATALLA_VERIFY_SEED (to rerun a run whose printed seed
    found something), else from the clock, so that runs differ. Print it."""
    if given is not None:
        return given
    return int(os.environ.get(SEED_ENV) or time.time_ns() % (1 << 31))
