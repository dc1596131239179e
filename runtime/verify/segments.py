"""Segmented RTL runs: a long program cut at layer boundaries into segments that simulate apart.

The emulator runs the whole program once and keeps its DRAM image before each cut (the
checkpoint). Each segment is a program of its own (its slice of the command stream, then END)
started on the RTL from the checkpoint at its start; at its end the RTL's DRAM must equal the
emulator's image at the next cut byte for byte, and its firmware calls the emulator's calls in
that range. A cut is allowed only where the machine holds nothing but DRAM (Emulator._check_cut).
Segments run in parallel, each in a simulator process of its own, and a farm shards them
(`atalla verify segments`, docs/verification.md "Segmented runs").
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from atalla.isa import Opcode, command
from atalla.program import Program
from compiler.serialize import serialize
from runtime import image
from runtime.emulator.machine import Emulator
from runtime.interface import FirmwareCall


def clean_points(program: Program) -> list[int]:
    """The command indices before which, by the stream alone, no handle is bound and no DMA is in
    flight (the emulator checks the machine itself at the cuts chosen among them)."""
    handles: set[int] = set()
    tickets: set[int] = set()
    clean = []
    for index, cmd in enumerate(program.commands):
        if not handles and not tickets:
            clean.append(index)
        if cmd.op == Opcode.ALLOC:
            handles.add(cmd.field("handle"))
        elif cmd.op == Opcode.FREE:
            handles.discard(cmd.field("handle"))
        elif cmd.op in (Opcode.DMA_LOAD, Opcode.DMA_STORE):
            tickets.add(cmd.field("ticket"))
        elif cmd.op == Opcode.WAIT:
            tickets.discard(cmd.field("ticket"))
    return clean


def end_index(program: Program) -> int:
    """The index of the program's END (the loader makes it the last command)."""
    return len(program.commands) - 1


def layer_cuts(program: Program) -> list[int]:
    """Where the program may be cut: the first command of a graph node (the compiler's metadata
    "nodes") where the machine holds only DRAM; neither 0 nor END."""
    starts = {first for first, stop in (n["commands"] for n in program.metadata.get("nodes", [])) if stop > first}
    return [i for i in clean_points(program) if i in starts and 0 < i < end_index(program)]


def choose_cuts(program: Program, segments: int) -> list[int]:
    """segments - 1 layer cuts, each the nearest to an equal share of the commands that leaves room
    for the cuts after it."""
    candidates = layer_cuts(program)
    if segments < 1:
        raise ValueError(f"--segments {segments}: give 1 or more")
    if segments - 1 > len(candidates):
        raise ValueError(f"the program has {len(candidates)} layer boundaries where it may be cut "
                         f"(commands {candidates}): at most {len(candidates) + 1} segments, not {segments}")
    cuts, lo = [], 0
    for j in range(1, segments):
        target = j * end_index(program) / segments
        hi = len(candidates) - (segments - 1 - j)  # leave a candidate for every later cut
        best = min(range(lo, hi), key=lambda i: (abs(candidates[i] - target), i))
        cuts.append(candidates[best])
        lo = best + 1
    return cuts


@dataclass(frozen=True)
class Segment:
    index: int
    first: int  # its first command in the whole program
    stop: int  # the next cut, or the program's END: the segment runs commands first .. stop - 1, then END


def plan(program: Program, cuts: Sequence[int]) -> list[Segment]:
    """The segments between cuts (command indices, increasing, inside the program)."""
    end = end_index(program)
    if list(cuts) != sorted(set(cuts)) or any(not 0 < c < end for c in cuts):
        raise ValueError(f"cuts {list(cuts)}: give increasing command indices between 1 and {end - 1} "
                         f"(command {end} is the END)")
    bounds = [0, *cuts, end]
    return [Segment(i, a, b) for i, (a, b) in enumerate(zip(bounds, bounds[1:]))]


def segment_program(program: Program, seg: Segment) -> Program:
    """The segment as a program: its commands, then END; the graph nodes it holds, renumbered."""
    nodes = [{**n, "commands": [max(a, seg.first) - seg.first, min(b, seg.stop) - seg.first]}
             for n in program.metadata.get("nodes", []) for a, b in [n["commands"]] if a < seg.stop and b > seg.first]
    commands = [*program.commands[seg.first : seg.stop], command(Opcode.END)]
    metadata = {**program.metadata, "nodes": nodes,
                "commands_by_kind": dict(sorted(Counter(c.kind for c in commands).items())),
                "segment": {"index": seg.index, "commands": [seg.first, seg.stop]}}
    return dataclasses.replace(program, commands=commands, metadata=metadata)


def image_extent(program: Program) -> int:
    """The DRAM bytes [0, extent) a checkpoint holds: every tensor and the command stream. The rest
    of DRAM is zero and stays so (checked at every checkpoint, and on the RTL at every segment's end)."""
    return max(program.dram_bytes_used, program.stream_span()[1],
               *(t.dram_offset + t.nbytes for t in program.tensors))


def where(program: Program, offset: int) -> str:
    """What a DRAM byte belongs to, for a report: every tensor placed over it (the memory plan puts
    tensors that are never live together in the same bytes)."""
    holders = []
    for i, t in enumerate(program.tensors):
        if t.dram_offset <= offset < t.dram_offset + t.nbytes:
            element = (offset - t.dram_offset) // (t.nbytes // t.numel)
            at = [int(x) for x in np.unravel_index(element, t.shape)] if t.shape else []
            holders.append(f"tensor {i} {t.name!r} ({t.role.name.lower()}), element {at}")
    if holders:
        return " or ".join(holders)
    lo, hi = program.stream_span()
    if lo <= offset < hi:
        return "the command stream"
    return "no tensor"


def first_difference(program: Program, expected: np.ndarray, got: np.ndarray) -> str | None:
    """None if the images are equal; else the first differing byte, what it belongs to, and how many differ."""
    differ = np.flatnonzero(expected != got)
    if not differ.size:
        return None
    at = int(differ[0])
    return (f"DRAM byte {at:#x} ({where(program, at)}) differs: emulator {int(expected[at]):#04x}, RTL "
            f"{int(got[at]):#04x}; {differ.size} bytes differ")


@dataclass
class SegmentJob:
    """What one segment's RTL run needs and is judged against."""

    segment: Segment
    blob: bytes  # the segment's program
    start: np.ndarray  # DRAM [0, extent) at its start: the emulator's checkpoint
    expected: np.ndarray  # DRAM [0, extent) at its end as the emulator left it, the segment's commands on the stream
    calls: list[FirmwareCall]  # the emulator's firmware calls in the segment's range


def checkpoints(program: Program, inputs: list[np.ndarray], segments: Sequence[Segment]) -> list[SegmentJob]:
    """Run the emulator over the whole program once, keeping DRAM at the bounds of `segments`;
    EmulatorError (naming the command) where the machine holds more than DRAM at a cut."""
    extent, end = image_extent(program), end_index(program)
    emulator = Emulator(program)
    images: dict[int, np.ndarray] = {}
    calls_before: dict[int, int] = {}

    def keep(index: int) -> None:
        beyond = np.flatnonzero(emulator.dram[extent:])
        if beyond.size:
            raise ValueError(f"command {index}: the emulator's DRAM byte {extent + int(beyond[0]):#x} is non-zero, "
                             f"past every tensor and the command stream (which end at {extent:#x})")
        images[index] = emulator.dram[:extent].copy()
        calls_before[index] = len(emulator.firmware.log)

    bounds = {b for s in segments for b in (s.first, s.stop)}
    emulator.run(inputs, cuts=bounds - {end}, on_cut=keep)
    if end in bounds:
        keep(end)  # as the program ended: END changes no DRAM
    log = [(r.kind, r.args, r.status, r.value) for r in emulator.firmware.log]
    jobs = []
    for s in segments:
        segment = segment_program(program, s)
        expected = images[s.stop].copy()
        image.write_stream(expected, segment)  # as the RTL run has its commands, over the whole program's
        jobs.append(SegmentJob(s, serialize(segment), images[s.first], expected,
                               log[calls_before[s.first] : calls_before[s.stop]]))
    return jobs


def run_segment(job: SegmentJob, program: Program, run_dir: Path) -> dict:
    """One segment on the RTL, judged; its report (JSON-ready): passed, and the problem if not."""
    from runtime.rtl.cosim import run_rtl
    from runtime.rtl.results import RunFiles

    seg = job.segment
    report = {"model": program.metadata.get("model"), "config": program.config.name, "segment": seg.index,
              "commands": [seg.first, seg.stop], "layers": [n["node"] for n in _nodes(program, seg)],
              "cycles": None, "firmware_calls": len(job.calls), "run_dir": str(run_dir)}
    try:
        run = run_rtl(job.blob, [], program.config, run_dir, quiet=True, start_dram=job.start)
    except RuntimeError as e:  # the simulation itself failed: a build error, a crash, the firmware raising
        return {**report, "passed": False, "problem": str(e)}
    report.update(cycles=run.counters["cycles"], wall_seconds=round(run.wall_seconds, 3))
    if run.status != "done":
        # The RTL numbers the segment's commands from 0.
        return {**report, "passed": False,
                "problem": f"segment {seg.index} did not finish on the RTL, at command {seg.first + run.command_index} "
                           f"of the whole program ({run.problem()}, in the segment's numbering)"}
    problems = []
    if run.firmware_calls != job.calls:
        at = next((i for i, (a, b) in enumerate(zip(run.firmware_calls, job.calls)) if a != b),
                  min(len(run.firmware_calls), len(job.calls)))
        problems.append(f"firmware calls differ from call {at} of the segment ({len(run.firmware_calls)} on the RTL, "
                        f"{len(job.calls)} on the emulator)")
    dram = np.load(RunFiles(run_dir).dram)
    if difference := first_difference(program, job.expected, dram["image"]):
        problems.append(difference)
    if dram["nonzero_beyond"].size:
        problems.append(f"DRAM byte {int(dram['nonzero_beyond'][0]):#x} is non-zero on the RTL, past every tensor "
                        f"and the command stream (the emulator's is zero)")
    problem = f"segment {seg.index} (commands {seg.first}..{seg.stop - 1}): " + "; ".join(problems) if problems else None
    return {**report, "passed": problem is None, "problem": problem}


def _nodes(program: Program, seg: Segment) -> list[dict]:
    """The graph nodes whose commands begin in the segment."""
    return [n for n in program.metadata.get("nodes", [])
            if seg.first <= n["commands"][0] < seg.stop and n["commands"][1] > n["commands"][0]]


def default_jobs() -> int:
    """Simulations at once: the cores this process may use."""
    return len(os.sched_getaffinity(0))


def run_segments(program: Program, jobs: Iterable[SegmentJob], run_dir: Path, parallel: int) -> list[dict]:
    """Each segment in a simulator process of its own, `parallel` at once (the design is built first,
    once, for all of them); the reports in the jobs' order."""
    from runtime.rtl.build import build
    from runtime.rtl.cosim import design

    jobs = list(jobs)
    indices = [j.segment.index for j in jobs]
    if len(set(indices)) != len(indices):
        raise ValueError(f"segments {indices}: each runs once (a segment's files go to run_dir/segment<index>)")
    build(design(program.config), quiet=True)
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:  # each thread waits on its simulator
        # The longest first (by commands), so that a long one does not start last and run alone.
        futures = {id(j): pool.submit(run_segment, j, program, run_dir / f"segment{j.segment.index}")
                   for j in sorted(jobs, key=lambda j: j.segment.first - j.segment.stop)}
        return [futures[id(j)].result() for j in jobs]


def write_reports(path: Path, reports: Iterable[dict]) -> None:
    """JSON Lines, one segment a line: the reports of a farm's shards merge by concatenation."""
    path.write_text("".join(json.dumps(r) + "\n" for r in reports))
