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


def parse_shard(spec: str) -> tuple[int, int]:
    """`--shard I/N` (every long run takes it: a farm's job I of N) as (I, N); ValueError names the spec."""
    try:
        shard, shards = (int(x) for x in spec.split("/"))
    except ValueError:
        shard, shards = -1, 0
    if not 0 <= shard < shards:
        raise ValueError(f"--shard {spec}: give I/N with 0 <= I < N")
    return shard, shards


def shard_range(start: int, count: int, spec: str) -> range:
    """The I-th of N contiguous, nearly equal slices of [start, start + count): the N shards cover
    every index once, whatever N."""
    shard, shards = parse_shard(spec)
    return range(start + shard * count // shards, start + (shard + 1) * count // shards)
