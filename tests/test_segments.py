"""Segmented runs, the parts without a simulation: where a program may be cut, the emulator's
checkpoints and its refusal of a cut where the machine holds more than DRAM, the shards.
(The segments on the RTL: cocotb_tests/test_segments.py.)"""

from __future__ import annotations

import numpy as np
import pytest

from atalla.blob_format import Role
from atalla.config import CONFIGS
from atalla.isa import Opcode
from cli.main import _shard_range, main
from compiler.driver import compile_model
from golden.zoo import ZOO
from runtime.emulator import Emulator, EmulatorError
from runtime.loader import load
from runtime.verify import segments


def program_of(model: str):
    module, inputs = ZOO[model]()
    return load(compile_model(module, inputs, CONFIGS["small"], model).blob()), [x.numpy() for x in inputs]


def test_cuts_are_clean_layer_boundaries_near_equal_shares():
    program, _ = program_of("vit_micro")
    candidates = segments.layer_cuts(program)
    starts = {n["commands"][0] for n in program.metadata["nodes"]}
    assert len(candidates) >= 8 and set(candidates) <= starts
    assert set(candidates) <= set(segments.clean_points(program))
    cuts = segments.choose_cuts(program, 3)
    assert cuts == segments.choose_cuts(program, 3) and len(cuts) == 2 and set(cuts) <= set(candidates)
    end = segments.end_index(program)
    for j, cut in enumerate(cuts, 1):  # no other candidate is nearer the j-th equal share
        assert all(abs(cut - j * end / 3) <= abs(c - j * end / 3) for c in candidates)
    plan = segments.plan(program, cuts)
    assert [(s.first, s.stop) for s in plan] == [(0, cuts[0]), (cuts[0], cuts[1]), (cuts[1], end)]
    with pytest.raises(ValueError, match="at most"):
        segments.choose_cuts(program, len(candidates) + 2)


def test_a_segment_is_a_program_of_its_own():
    program, _ = program_of("host_fallback")
    seg = segments.plan(program, [78, 79])[1]
    loaded = load(segments.serialize(segments.segment_program(program, seg)))
    assert [c.op for c in loaded.commands] == [Opcode.HOST, Opcode.END]
    assert loaded.metadata["nodes"] == [{**program.metadata["nodes"][1], "commands": [0, 1]}]
    assert loaded.tensors == program.tensors and loaded.host_ops == program.host_ops


def test_checkpoints_are_the_emulators_dram_at_each_cut():
    program, inputs = program_of("host_fallback")
    plan = segments.plan(program, [78, 79])
    jobs = segments.checkpoints(program, inputs, plan)
    emulator = Emulator(program)
    emulator.run(inputs)
    extent = segments.image_extent(program)
    lo, hi = program.stream_span()
    state = np.r_[0:lo, hi:extent]  # all but the command stream, on which each segment has its own commands
    assert np.array_equal(jobs[-1].expected[state], emulator.dram[state]) and not emulator.dram[extent:].any()
    fresh = Emulator(program)  # the first segment starts from the blob's image and the inputs
    for spec, value in zip(program.by_role(Role.INPUT), inputs):
        fresh.write_tensor(spec.name, value)
    assert np.array_equal(jobs[0].start, fresh.dram[:extent])
    for job in jobs:
        segment = load(job.blob)
        stream = np.stack([c.encode() for c in segment.commands]).view(np.uint8).ravel()
        assert np.array_equal(job.expected[lo : lo + stream.size], stream)
    for before, after in zip(jobs, jobs[1:]):  # each segment starts where the one before it ended
        assert np.array_equal(before.expected[state], after.start[state])
    assert [len(j.calls) for j in jobs] == [16, 1, 8]
    assert [c[0].name for c in jobs[1].calls] == ["HOST"]
    assert [c for j in jobs for c in j.calls] == [(r.kind, r.args, r.status, r.value) for r in emulator.firmware.log]


def test_a_cut_where_the_machine_holds_more_than_dram_is_refused(capsys):
    program, inputs = program_of("host_fallback")
    inside = next(i for i in range(1, 78) if i not in segments.clean_points(program))
    with pytest.raises(EmulatorError, match=f"command {inside}: the program cannot be cut before it.*handles") as e:
        segments.checkpoints(program, inputs, segments.plan(program, [inside]))
    assert e.value.index == inside
    in_flight = next(i for i, c in enumerate(program.commands) if c.op == Opcode.DMA_LOAD) + 1
    with pytest.raises(EmulatorError, match=f"command {in_flight}: .*DMA tickets \\[\\d+\\] are in flight"):
        segments.checkpoints(program, inputs, segments.plan(program, [in_flight]))
    assert main(["verify", "segments", "host_fallback", "--cuts", str(inside)]) == 2
    assert f"command {inside}: the program cannot be cut before it" in capsys.readouterr().err


@pytest.mark.parametrize("count", [1, 3, 7])
def test_shards_cover_every_segment_once_and_alike_every_time(count):
    for shards in range(1, 9):
        slices = [list(_shard_range(0, count, f"{i}/{shards}")) for i in range(shards)]
        assert sorted(s for part in slices for s in part) == list(range(count))
        assert slices == [list(_shard_range(0, count, f"{i}/{shards}")) for i in range(shards)]


def test_a_difference_is_named_by_its_byte_and_every_tensor_placed_there():
    program, _ = program_of("vit_micro")
    norm, scores = program.tensor_id("layer_norm"), program.tensor_id("matmul")
    at = program.tensors[norm].dram_offset + 2 * program.tensors[norm].shape[-1] + 3  # row 1, element 1's high byte
    assert program.tensors[scores].dram_offset == program.tensors[norm].dram_offset  # the plan reuses the bytes
    expected = np.zeros(segments.image_extent(program), np.uint8)
    got = expected.copy()
    assert segments.first_difference(program, expected, got) is None
    got[[at, at + 8]] = 0x40
    named = segments.first_difference(program, expected, got)
    assert named.startswith(f"DRAM byte {at:#x} (tensor {norm} 'layer_norm' (intermediate), element [0, 1, 1] or "
                            f"tensor {scores} 'matmul' (intermediate), element [0, 1, 1] or "), named
    assert named.endswith(") differs: emulator 0x00, RTL 0x40; 2 bytes differ")
    assert segments.where(program, program.stream_span()[0]) == "the command stream"
