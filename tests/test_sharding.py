"""The regression shards for a farm: `pytest --shard I/N` (conftest.py) runs slices that cover every
test once, the same slices on every run."""

import subprocess
import sys
import threading
import time

import pytest

from runtime.rtl.build import ROOT, build_once
from runtime.verify import parse_shard, shard_range


def collected(*args: str) -> list[str]:
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "--collect-only", "-p", "no:cacheprovider",
                          "tests/test_config.py", *args], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    return [line for line in run.stdout.splitlines() if "::" in line]


def test_the_shards_of_the_regression_cover_every_test_once():
    whole = collected()
    shards = [collected("--shard", f"{i}/3") for i in range(3)]
    assert sorted(sum(shards, [])) == sorted(whole) and len(whole) > 3
    assert all(shards)


def test_a_bad_shard_is_a_usage_error_naming_it():
    run = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-p", "no:cacheprovider",
                          "tests/test_config.py", "--shard", "3/3"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 4 and "--shard 3/3: give I/N with 0 <= I < N" in run.stderr


@pytest.mark.parametrize("spec", ["1", "a/2", "2/2", "-1/2", "0/0"])
def test_parse_shard_refuses(spec):
    with pytest.raises(ValueError, match=f"--shard {spec}"):
        parse_shard(spec)


def test_shard_ranges_split_a_count_into_contiguous_slices():
    assert [list(shard_range(10, 5, f"{i}/2")) for i in range(2)] == [[10, 11], [12, 13, 14]]


def test_processes_wanting_one_build_wait_for_it_rather_than_build_it_twice(tmp_path):
    """pytest-xdist's workers share sim_build/: the second asking for a build finds it finished."""
    made = []

    def make(tmp, log):
        made.append(tmp)
        time.sleep(0.3)  # long enough for the other thread to ask meanwhile
        tmp.mkdir()
        (tmp / "product").write_text("built")

    threads = [threading.Thread(target=build_once, args=(tmp_path / "dut-1234", "product", make)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 1 and (tmp_path / "dut-1234" / "product").read_text() == "built"
