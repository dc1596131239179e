"""Constrained-random ISA programs (runtime/verify) on the whole design, each compared bit for bit
with the emulator, many per simulation. The varying tests take their seed from the clock (or from
ATALLA_VERIFY_SEED, to rerun one) and print it; a failure names the program and the one command
that reproduces it."""

from __future__ import annotations

import json

import pytest

from atalla.config import CONFIGS
from cli.main import main
from runtime.verify.batch import BatchResult, run_random
from runtime.verify.generator import PLANT_KINDS
from runtime.verify import SEED_ENV, run_seed

FIXED_SEED = 20261201


def varying_seed() -> int:
    seed = run_seed()
    print(f"random programs: seed {seed} (rerun with {SEED_ENV}={seed})")
    return seed


def check(result: BatchResult, count: int) -> None:
    assert len(result.verdicts) == count
    failures = "\n".join(f"program {v['index']} ({v['planted'] or 'legal'}): {v['problem']}; reproduce: "
                         f"{result.reproduce(v['index'])}" for v in result.failures)
    assert not failures, f"seed {result.seed}:\n{failures}"
    print(result.summary())


def check_planted(result: BatchResult) -> None:
    """Every planted command ended both backends with its own code, at its index."""
    for v in result.verdicts:
        assert v["emulator"]["fault"] == v["planted_fault"] and v["emulator"]["index"] == v["planted_index"], v
    assert {v["planted_fault"] for v in result.verdicts} == {k.name for k in PLANT_KINDS}


@pytest.mark.parametrize("config,count", [("small", 600), ("atalla32", 60)])
def test_random_programs_agree(config, count, tmp_path):
    check(run_random(CONFIGS[config], varying_seed(), count, tmp_path), count)


@pytest.mark.parametrize("config,count", [("small", 20 * len(PLANT_KINDS)), ("atalla32", 4 * len(PLANT_KINDS))])
def test_planted_bad_commands_stop_both_alike(config, count, tmp_path):
    result = run_random(CONFIGS[config], varying_seed(), count, tmp_path, illegal=True)
    check(result, count)
    check_planted(result)


def test_fixed_seed(tmp_path):
    legal = run_random(CONFIGS["small"], FIXED_SEED, 100, tmp_path / "legal")
    check(legal, 100)
    illegal = run_random(CONFIGS["small"], FIXED_SEED, 2 * len(PLANT_KINDS), tmp_path / "illegal", illegal=True)
    check(illegal, 2 * len(PLANT_KINDS))
    check_planted(illegal)


def test_the_command_line_and_its_reproduction(tmp_path, capsys):
    """`atalla verify random` runs a batch; the one command printed for a program runs it alone,
    to the same cycle (a run is a function of config, seed and index)."""
    assert main(["verify", "random", "--count", "12", "--seed", "3", "--run-dir", str(tmp_path / "all")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("seed 3: programs 0..11 on small") and "12 agree, 0 differ" in out
    batch = json.loads((tmp_path / "all" / "verdicts.json").read_text())
    again = BatchResult("small", 3, False, [], 0.0).reproduce(7).split()[1:]
    assert main([*again, "--run-dir", str(tmp_path / "one")]) == 0
    (alone,) = json.loads((tmp_path / "one" / "verdicts.json").read_text())
    assert (alone["index"], alone["cycles"], alone["commands"]) == (7, batch[7]["cycles"], batch[7]["commands"])
    assert main(["verify", "random", "--count", "4", "--shard", "1/2", "--seed", "3", "--illegal",
                 "--run-dir", str(tmp_path / "shard")]) == 0
    assert [v["index"] for v in json.loads((tmp_path / "shard" / "verdicts.json").read_text())] == [2, 3]
