"""runtime/rtl/coverage.py on coverage.dat files written as Verilator writes them: the design's
points only, merged over runs and shards, waivers (keyed by source text or signal) counted as
covered and named, stale waivers found, the summary's schema; the functional sampler's bins; and
the repository's own waivers still matching the RTL. (`make coverage` runs it on real builds.)"""

from __future__ import annotations

import json

import pytest

from atalla.config import CONFIGS
from runtime.emulator import Emulator, EmulatorError
from runtime.rtl.build import RTL
from runtime.rtl.coverage import (CoverageError, Point, apply_waivers, merge, merge_dir, read, read_waivers,
                                  stale_in_sources, summarize)
from runtime.verify.functional import DESIGN_EVENTS, SampledEmulator, Sampler, plan
from runtime.verify.generator import generate

DMA, CMD = str(RTL / "dma.sv"), str(RTL / "cmdproc.sv")
CMD_LINES = (RTL / "cmdproc.sv").read_text().splitlines()
END_LINE = next(i for i, t in enumerate(CMD_LINES, start=1) if "default: state <= S_FAULT;" in t)


def dat(*points: tuple[str, int, str, str, str, int]) -> str:
    """A coverage.dat of (file, line, kind, module, description, count)."""
    lines = ["# SystemC::Coverage-3"]
    for file, line, kind, module, what, count in points:
        fields = {"f": file, "l": line, "n": 3, "t": kind, "page": f"v_{kind}/{module}", "o": what, "h": f"TOP.{module}"}
        lines.append("C '" + "".join(f"\x01{k}\x02{v}" for k, v in fields.items()) + f"' {count}")
    return "\n".join(lines) + "\n"


def run_dir(root, name: str, text: str, functional: dict | None = None):
    d = root / name
    (d / "sim").mkdir(parents=True)
    (d / "sim" / "coverage.dat").write_text(text)
    if functional is not None:
        (d / "functional.json").write_text(json.dumps(functional))
    return d


def test_design_points_merge_over_runs_and_waivers_count_as_covered(tmp_path):
    first = tmp_path / "a.dat"
    first.write_text(dat((DMA, 10, "line", "dma__T4", "block", 0), (DMA, 12, "branch", "dma__T4", "if", 2),
                         (CMD, 40, "toggle", "cmdproc", "state[0]:0->1", 0),
                         (CMD, END_LINE, "line", "cmdproc", "case", 0),
                         (str(RTL / "tb" / "atalla_tb.sv"), 5, "line", "atalla_tb", "block", 0),
                         ("/opt/verilator/include/verilated_std.sv", 9, "line", "std", "block", 0)))
    second = tmp_path / "b.dat"
    second.write_text(dat((DMA, 10, "line", "dma__T4", "block", 5), (CMD, 40, "toggle", "cmdproc", "state[0]:0->1", 0)))
    points = merge([read(first), read(second)])
    assert {p.file for p in points} == {"dma.sv", "cmdproc.sv"}  # neither the testbench nor Verilator's std
    assert points[Point("dma.sv", 10, "line", "dma", "block")] == 5
    waivers_file = tmp_path / "waivers.txt"
    waivers_file.write_text("# comment\nline | cmdproc.sv | default: state <= S_FAULT; | every state has its arm\n")
    waived, stale = apply_waivers(points, read_waivers(waivers_file))
    assert stale == [] and [p.line for p in waived] == [END_LINE]
    summary = summarize(points, waived)
    assert summary["line"] == 100.0 and summary["branch"] == 100.0 and summary["toggle"] == 0.0
    assert summary["waived"] == 1 and summary["functional"] is None
    assert summary["modules"] == {"cmdproc": {"line": 100.0, "toggle": 0.0}, "dma": {"branch": 100.0, "line": 100.0}}


def test_sharded_runs_merge_to_the_whole_and_the_summary_has_the_issues_schema(tmp_path):
    a = ((DMA, 10, "line", "dma", "block", 3), (CMD, 40, "toggle", "cmdproc", "state[0]:0->1", 0),
         (CMD, 41, "branch", "cmdproc", "if", 0))
    b = ((DMA, 10, "line", "dma", "block", 0), (CMD, 40, "toggle", "cmdproc", "state[0]:0->1", 1),
         (CMD, 41, "branch", "cmdproc", "if", 0))
    bins = plan(CONFIGS["small"])
    run_dir(tmp_path / "shards", "zoo-x", dat(*a), {"command.END": 2})
    run_dir(tmp_path / "shards", "random-y", dat(*b), {"command.END": 1, "command.GEMM": 4})
    whole = tuple((f, ln, k, m, w, ca + cb) for (f, ln, k, m, w, ca), (*_, cb) in zip(a, b))
    run_dir(tmp_path / "whole", "all", dat(*whole), {"command.END": 3, "command.GEMM": 4})
    empty = tmp_path / "no-waivers.txt"
    sharded = merge_dir(tmp_path / "out1", tmp_path / "shards", bins, DESIGN_EVENTS, empty)
    single = merge_dir(tmp_path / "out2", tmp_path / "whole", bins, DESIGN_EVENTS, empty)
    assert sharded == single
    assert {"line", "branch", "toggle", "expression", "functional", "waived", "modules"} <= set(sharded)
    assert sharded["line"] == 100.0 and sharded["toggle"] == 100.0 and sharded["branch"] == 0.0
    assert set(sharded["modules"]["cmdproc"]) == {"branch", "toggle"}
    assert sharded["bins"]["command.END"] == {"hits": 3, "hit": True, "waived": None}
    assert sharded["functional"] == round(100 * 2 / len(bins), 2)
    assert json.loads((tmp_path / "out1" / "summary.json").read_text()) == sharded
    report = (tmp_path / "out1" / "report.md").read_text()
    assert "- `rtl/cmdproc.sv:41` (cmdproc) if" in report and "- `command.NOP`" in report


def test_a_bench_counts_on_the_designs_points_only(tmp_path):
    run_dir(tmp_path, "zoo-x", dat((DMA, 10, "toggle", "dma", "q[3]:0->1", 0)))
    run_dir(tmp_path, "bench-dma", dat((DMA, 10, "toggle", "dma", "q[3]:0->1", 1), (DMA, 10, "toggle", "dma", "q[40]:0->1", 0)))
    summary = merge_dir(tmp_path / "out", tmp_path, {}, {}, tmp_path / "none.txt")
    assert summary["toggle"] == 100.0 and summary["points"]["toggle"] == 1


def test_stale_waivers_are_found(tmp_path):
    points = {Point("cmdproc.sv", END_LINE, "line", "cmdproc", "case"): 4,
              Point("mailbox.sv", 3, "toggle", "mailbox", "req_args_o[2][17]:0->1"): 0}
    w = tmp_path / "w.txt"
    w.write_text("line | cmdproc.sv | default: state <= S_FAULT; | was unreachable\n"
                 "toggle | mailbox.sv | req_args_o[*][31:16] | upper halves\n"
                 "toggle | mailbox.sv | no_such_signal | gone\n"
                 "line | dma.sv | this text is in no line | moved away\n")
    waivers = read_waivers(w)
    waived, stale = apply_waivers(points, waivers)
    assert list(waived) == [Point("mailbox.sv", 3, "toggle", "mailbox", "req_args_o[2][17]:0->1")]
    assert stale == [f"w.txt:1: line waiver `default: state <= S_FAULT;` in rtl/cmdproc.sv covers 1 point(s) that are hit, "
                     f"e.g. line {END_LINE} case",
                     "w.txt:3: toggle waiver `no_such_signal` in rtl/mailbox.sv matches no coverage point",
                     "w.txt:4: line waiver `this text is in no line` in rtl/dma.sv matches no coverage point"]
    assert stale_in_sources(waivers) == ["w.txt:3: toggle waiver `no_such_signal` matches nothing in rtl/mailbox.sv",
                                         "w.txt:4: line waiver `this text is in no line` matches nothing in rtl/dma.sv"]
    run_dir(tmp_path / "runs", "zoo-x", dat((CMD, END_LINE, "line", "cmdproc", "case", 4)))
    summary = merge_dir(tmp_path / "out", tmp_path / "runs", {}, {}, w)
    assert len(summary["stale_waivers"]) == 6  # four by these points (no mailbox point now), two by the sources


def test_toggle_waivers_match_signal_and_bit_ranges(tmp_path):
    w = tmp_path / "w.txt"
    w.write_text("toggle | fetch.sv | next_addr[63:25] | above DRAM\n")
    (waiver,) = read_waivers(w)
    point = lambda what: Point("fetch.sv", 1, "toggle", "fetch", what)  # noqa: E731
    assert waiver.matches(point("next_addr[25]:0->1"), []) and waiver.matches(point("next_addr[63]:1->0"), [])
    assert not waiver.matches(point("next_addr[24]:0->1"), []) and not waiver.matches(point("next_addrx[30]:0->1"), [])


def test_malformed_inputs_are_named(tmp_path):
    bad = tmp_path / "bad.dat"
    bad.write_text("C '\x01f\x02x.sv\x01t\x02line' 3\n")
    with pytest.raises(CoverageError, match=r"bad.dat:1: not a coverage point"):
        read(bad)
    waivers = tmp_path / "w.txt"
    waivers.write_text("lines | dma.sv | x | typo\n")
    with pytest.raises(CoverageError, match=r"w.txt:1: a waiver is `kind \| file \| what \| reason`"):
        read_waivers(waivers)
    with pytest.raises(CoverageError, match="no coverage runs under"):
        merge_dir(tmp_path / "out", tmp_path, {}, {})


def test_the_repositorys_waivers_still_match_the_rtl():
    """A waiver whose source text or signal an RTL edit removed would waive nothing, silently."""
    waivers = read_waivers()
    assert waivers and stale_in_sources(waivers) == []
    bins = plan(CONFIGS["small"])
    assert all(w.what in bins for w in waivers if w.kind == "functional")
    assert set(DESIGN_EVENTS) <= set(bins)


def test_the_sampler_sees_a_random_programs_commands_data_and_calls():
    cfg = CONFIGS["small"]
    bins, hits = plan(cfg), Sampler(cfg)
    for index in range(3):
        gen = generate(cfg, 11, index, False)
        emu = SampledEmulator(gen.program, hits)
        gen.patch(emu.dram)
        emu.run([])
        hits.calls([(r.kind, r.args, r.status, r.value) for r in emu.firmware.log])
    assert set(hits.hits) <= set(bins)
    assert hits.hits["command.END"] == 3 and hits.hits["mailbox.call.ALLOC"] == hits.hits["command.ALLOC"]
    assert hits.hits["dma.load"] > 0 and hits.hits["numerics.operand.nan"] > 0 and hits.hits["numerics.flushed_subnormal"] > 0


def test_a_waiver_of_a_point_that_is_hit_is_stale_even_beside_points_that_are_not(tmp_path):
    """A waiver says its points cannot move: one that moves proves the reason wrong."""
    w = tmp_path / "w.txt"
    w.write_text("toggle | fetch.sv | next_addr[63:24] | above DRAM\n")
    points = {Point("fetch.sv", 1, "toggle", "fetch", "next_addr[24]:0->1"): 1,
              Point("fetch.sv", 1, "toggle", "fetch", "next_addr[25]:0->1"): 0}
    waived, stale = apply_waivers(points, read_waivers(w))
    assert len(waived) == 1
    assert stale == ["w.txt:1: toggle waiver `next_addr[63:24]` in rtl/fetch.sv covers 1 point(s) that are hit, "
                     "e.g. line 1 next_addr[24]:0->1"]


@pytest.mark.parametrize("illegal", [False, True])
def test_the_sampler_changes_nothing_the_emulator_does(illegal):
    """The monitor reads operands only: same ending, same message, same DRAM, legal or not."""
    cfg = CONFIGS["small"]
    for index in range(13):
        gen = generate(cfg, 5, index, illegal)
        endings = []
        for emu in (Emulator(gen.program), SampledEmulator(gen.program, Sampler(cfg))):
            gen.patch(emu.dram)
            try:
                emu.run([])
                message = "done"
            except EmulatorError as e:
                message = f"{e.fault}: {e}"
            endings.append((message, bytes(emu.dram[:gen.program.dram_bytes_used])))
        assert endings[0] == endings[1], (index, endings[0][0], endings[1][0])
