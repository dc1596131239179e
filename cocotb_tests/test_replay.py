"""The pure-Verilator replay (the co-simulation speed baseline) reproduces a co-simulation run
exactly, and a recording that is off by one cycle or one byte is caught, never timed."""

from __future__ import annotations

import shutil
from dataclasses import replace

import pytest

from atalla.config import CONFIGS
from compiler.driver import compile_model
from golden.zoo import ZOO
from runtime.rtl.cosim import run_rtl
from runtime.rtl.recording import DramWrite, Port, Post, Recording, Write
from runtime.rtl.replay import ReplayMismatch, replay

CONFIG = CONFIGS["small"]
CYCLE_PS = 10_000  # atalla_tb's clock: 10 ns, the simulation counts picoseconds


@pytest.fixture(scope="module")
def cosim_run(tmp_path_factory):
    """host_fallback: small, and it has a host op, so the recording holds a DRAM change too."""
    module, inputs = ZOO["host_fallback"]()
    compiled = compile_model(module, inputs, CONFIG, "host_fallback")
    run_dir = tmp_path_factory.mktemp("host_fallback")
    rtl = run_rtl(compiled.blob(), [x.numpy() for x in inputs], CONFIG, run_dir)
    assert rtl.problem() is None
    return run_dir, rtl


def tampered(run_dir, tmp_path, change):
    """A copy of the run whose recording went through change(recording)."""
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    recording = Recording.load(copy / "rtl_recording.bin")
    change(recording)
    recording.records.sort(key=lambda r: r.time)
    recording.save(copy / "rtl_recording.bin")
    return copy


def host_op_change(recording: Recording) -> int:
    """Index of the DRAM bytes the host op wrote (the DRAM image is the only other DRAM record)."""
    (index,) = [i for i, r in enumerate(recording.records)
                if isinstance(r, DramWrite) and r.time > recording.window_start]
    return index


def test_replay_reproduces_the_cosim_run(cosim_run):
    run_dir, rtl = cosim_run
    recording = Recording.load(run_dir / "rtl_recording.bin")
    assert {r.signal for r in recording.records if isinstance(r, Write)} == {"start_i", "prog_base_i"}
    assert {r.port for r in recording.records if isinstance(r, Post)} == {Port.ANSWER, Port.DMA}
    run = replay(run_dir, CONFIG)  # raises ReplayMismatch on any difference
    assert run.cycles == rtl.counters["cycles"] and run.wall_seconds > 0


def test_a_response_one_cycle_late_is_caught(cosim_run, tmp_path):
    def delay_first_answer(recording):
        i = next(i for i, r in enumerate(recording.records) if isinstance(r, Post) and r.port == Port.ANSWER)
        recording.records[i] = replace(recording.records[i], time=recording.records[i].time + CYCLE_PS)

    # The total may absorb the cycle (the command processor waits for a DMA anyway); the response
    # event of the trace cannot.
    with pytest.raises(ReplayMismatch, match=r"trace: \d+ events in the co-sim, \d+ in the replay, first difference"):
        replay(tampered(cosim_run[0], tmp_path, delay_first_answer), CONFIG)


def test_a_changed_host_op_result_is_caught(cosim_run, tmp_path):
    def flip_a_bit(recording):
        i = host_op_change(recording)
        data = bytearray(recording.records[i].data)
        data[1 - recording.records[i].address % 2] ^= 0x40  # an exponent bit: the high byte of a bf16
        recording.records[i] = replace(recording.records[i], data=bytes(data))

    with pytest.raises(ReplayMismatch, match=r"\d+ of \d+ values differ"):
        replay(tampered(cosim_run[0], tmp_path, flip_a_bit), CONFIG)
