"""runtime/rtl/coverage.py on coverage.dat files written as Verilator writes them: the design's
points only, merged over runs, waivers counted as covered and named, percentages per kind and
module. (`make coverage` runs it on real coverage builds.)"""

from __future__ import annotations

import pytest

from runtime.rtl.build import RTL
from runtime.rtl.coverage import CoverageError, Point, merge, read, read_waivers, report, summarize


def dat(*points: tuple[str, int, str, str, str, int]) -> str:
    """A coverage.dat of (file, line, kind, module, description, count)."""
    lines = ["# SystemC::Coverage-3"]
    for file, line, kind, module, what, count in points:
        fields = {"f": file, "l": line, "n": 3, "t": kind, "page": f"v_{kind}/{module}", "o": what, "h": f"TOP.{module}"}
        lines.append("C '" + "".join(f"\x01{k}\x02{v}" for k, v in fields.items()) + f"' {count}")
    return "\n".join(lines) + "\n"


DMA, CMD = str(RTL / "dma.sv"), str(RTL / "cmdproc.sv")


def test_design_points_merge_over_runs_and_waivers_count_as_covered(tmp_path):
    first = tmp_path / "a.dat"
    first.write_text(dat((DMA, 10, "line", "dma__T4", "block", 0), (DMA, 12, "branch", "dma__T4", "if", 2),
                         (CMD, 40, "toggle", "cmdproc", "state[0]", 0), (CMD, 41, "expr", "cmdproc", "(a==1) => 1", 0),
                         (str(RTL / "tb" / "atalla_tb.sv"), 5, "line", "atalla_tb", "block", 0),
                         ("/opt/verilator/include/verilated_std.sv", 9, "line", "std", "block", 0)))
    second = tmp_path / "b.dat"
    second.write_text(dat((DMA, 10, "line", "dma__T4", "block", 5), (CMD, 40, "toggle", "cmdproc", "state[0]", 0)))
    points = merge([read(first), read(second)])
    assert {p.file for p in points} == {"dma.sv", "cmdproc.sv"}  # neither the testbench nor Verilator's std
    assert points[Point("dma.sv", 10, "line", "dma", "block")] == 5
    waivers_file = tmp_path / "waivers.txt"
    waivers_file.write_text("# comment\ncmdproc.sv:41 expr a is a constant 1 in this config\n")
    waivers = read_waivers(waivers_file)
    summary = summarize(points, waivers)
    assert summary["line"] == 100.0 and summary["branch"] == 100.0 and summary["toggle"] == 0.0
    assert summary["expression"] == 100.0 and summary["waived"] == 1 and summary["functional"] is None
    assert summary["modules"] == {"cmdproc": {"expression": 100.0, "toggle": 0.0},
                                  "dma": {"branch": 100.0, "line": 100.0}}
    text = report(points, waivers, summary, ["a", "b"])
    assert "- `rtl/cmdproc.sv:40` (cmdproc) state[0]" in text
    assert "- `rtl/cmdproc.sv:41` (cmdproc) (a==1) => 1 -- waived: a is a constant 1 in this config" in text


def test_malformed_inputs_are_named(tmp_path):
    bad = tmp_path / "bad.dat"
    bad.write_text("C '\x01f\x02x.sv\x01t\x02line' 3\n")
    with pytest.raises(CoverageError, match=r"bad.dat:1: not a coverage point"):
        read(bad)
    waivers = tmp_path / "w.txt"
    waivers.write_text("dma.sv:10 lines typo\n")
    with pytest.raises(CoverageError, match=r"w.txt:1: a waiver is `file:line kind reason`"):
        read_waivers(waivers)
