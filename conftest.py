"""Options of the whole regression (tests/ and cocotb_tests/).

--shard I/N keeps the collected tests j with j % N == I (in collection order, which is the same on
every machine), so that a farm's N jobs (a CI matrix, SLURM array jobs) run the regression between
them, each test once; their JUnit reports (--junitxml) merge by concatenation. Within one machine,
-n (pytest-xdist) spreads a shard over the cores."""

import pytest

from runtime.verify import parse_shard


def pytest_addoption(parser):
    parser.addoption("--shard", metavar="I/N", default=None, help="run the I-th of N deterministic slices of the tests")


def pytest_collection_modifyitems(config, items):
    spec = config.getoption("shard")
    if spec is None:
        return
    try:
        shard, shards = parse_shard(spec)
    except ValueError as e:
        raise pytest.UsageError(str(e)) from None
    kept = [item for j, item in enumerate(items) if j % shards == shard]
    config.hook.pytest_deselected(items=[item for j, item in enumerate(items) if j % shards != shard])
    items[:] = kept
