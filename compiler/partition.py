"""Partitioning: which graph nodes run on Atalla and which fall back to the host, and why."""

from __future__ import annotations

from dataclasses import dataclass

from compiler.ops import PASSTHROUGH, REGISTRY, unsupported_reason

ATALLA, HOST, VIEW, FOLDED = "atalla", "host", "view", "constant"


@dataclass(frozen=True)
class Placement:
    node: str
    target: str
    where: str  # ATALLA, HOST, VIEW (a layout op or tuple access: no commands) or FOLDED (computed at compile time)
    reason: str = ""
    segment: int = -1  # index of the Atalla segment (a maximal run of Atalla nodes), -1 for host


def partition(graph, folded: dict | None = None) -> list[Placement]:
    """`folded`: node -> value of the nodes compiler.fold computed at compile time."""
    folded = folded or {}
    out: list[Placement] = []
    segment, in_segment = -1, False
    for node in graph.nodes:
        if node.op != "call_function":
            continue
        target = str(node.target)
        if node in folded:
            out.append(Placement(node.name, target, FOLDED))
            continue
        if node.target in PASSTHROUGH:
            out.append(Placement(node.name, target, VIEW, segment=segment if in_segment else -1))
            continue
        reason = unsupported_reason(node, folded)
        if reason is not None:
            in_segment = False
            out.append(Placement(node.name, target, HOST, reason))
            continue
        if not in_segment:
            segment, in_segment = segment + 1, True
        where = VIEW if REGISTRY[node.target].layout else ATALLA
        out.append(Placement(node.name, target, where, segment=segment))
    return out


def format_partition(model: str, placements: list[Placement]) -> str:
    n_atalla = sum(p.where == ATALLA for p in placements)
    host = [p for p in placements if p.where == HOST]
    n_views = sum(p.where == VIEW for p in placements)
    n_folded = sum(p.where == FOLDED for p in placements)
    segments = len({p.segment for p in placements if p.segment >= 0})
    lines = [f"partition of {model!r}: {n_atalla} compute ops on Atalla in {segments} segment(s), "
             f"{n_views} views, {len(host)} on host" + (f", {n_folded} folded at compile time" if n_folded else "")]
    for p in placements:
        where = f"atalla[{p.segment}]" if p.where == ATALLA else p.where
        lines.append(f"  {where:10} {p.node:24} {p.target}" + (f"  ({p.reason})" if p.reason else ""))
    return "\n".join(lines)
