"""Segmented runs on the RTL: a model cut at layer boundaries, each segment simulated from the
emulator's DRAM at its start and equal to the emulator's DRAM at its end byte for byte; a
corrupted checkpoint caught with the segment and the byte named; shards that merge."""

from __future__ import annotations

import json

from atalla.blob_format import Role
from atalla.config import CONFIGS
from cli.main import main
from compiler.driver import compile_model
from golden.zoo import ZOO
from runtime.loader import load
from runtime.verify import segments


def test_vit_micro_in_three_segments_in_two_shards_every_one_bit_exact(tmp_path, capsys):
    reports = []
    for shard in ("0/2", "1/2"):
        report = tmp_path / f"shard{shard[0]}.jsonl"
        assert main(["verify", "segments", "vit_micro", "--segments", "3", "--jobs", "2", "--shard", shard,
                     "--report", str(report), "--run-dir", str(tmp_path / f"run{shard[0]}")]) == 0
        reports += report.read_text()  # a farm merges the shards' reports by concatenation
    out = capsys.readouterr().out
    assert "cycles are per segment" in out and "PASS: 1 of 1 segments agree" in out and "PASS: 2 of 2" in out
    merged = [json.loads(line) for line in "".join(reports).splitlines()]
    assert [r["segment"] for r in merged] == [0, 1, 2]
    assert all(r["passed"] and r["problem"] is None and r["cycles"] > 0 for r in merged)
    bounds = [b for r in merged for b in r["commands"]]
    assert bounds[0] == 0 and bounds[1:-1:2] == bounds[2:-1:2]  # the segments tile the program


def test_a_host_op_runs_inside_a_segment_and_a_corrupted_checkpoint_is_caught(tmp_path):
    module, inputs = ZOO["host_fallback"]()
    program = load(compile_model(module, inputs, CONFIGS["small"], "host_fallback").blob())
    jobs = segments.checkpoints(program, [x.numpy() for x in inputs], segments.plan(program, [78, 79]))
    host = jobs[1]  # the host op alone: sin, on the firmware
    assert [c[0].name for c in host.calls] == ["HOST"]
    # Flip the sign of the first element the host op reads in the checkpoint it starts from.
    read = program.tensors[program.host_ops[0].args[0]["tensor"]]
    assert read.role == Role.INTERMEDIATE
    corrupted = segments.SegmentJob(host.segment, host.blob, host.start.copy(), host.expected, host.calls)
    corrupted.start[read.dram_offset + 1] ^= 0x80
    (good,) = segments.run_segments(program, [host], tmp_path / "good", parallel=1)
    (bad,) = segments.run_segments(program, [corrupted], tmp_path / "bad", parallel=1)
    assert good["passed"] and good["problem"] is None and good["cycles"] > 0 and good["firmware_calls"] == 1
    assert not bad["passed"]
    # The flipped byte stays flipped, and the sign of sin's first result flips with it.
    written = program.tensors[program.host_ops[0].outputs[0]]
    first = min(read.dram_offset, written.dram_offset) + 1
    assert bad["problem"].startswith("segment 1 (commands 78..78): DRAM byte ")
    assert f"DRAM byte {first:#x} (tensor " in bad["problem"], bad["problem"]
