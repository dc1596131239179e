"""DRAM memory planning: every tensor an aligned offset, intermediates reusing memory by liveness.

Greedy by size (largest first, each at the lowest aligned offset free for its whole lifetime),
the classic offset-assignment heuristic for static graphs. The lower bound any plan must meet
is the largest total of bytes live at one step.
"""

from __future__ import annotations

from dataclasses import dataclass

from atalla.blob_format import Role
from compiler.values import Buffer


@dataclass(frozen=True)
class PlanReport:
    peak_bytes: int  # end of the highest tensor byte
    lower_bound_bytes: int  # most bytes simultaneously live (aligned sizes)
    tensor_bytes: int  # sum of all tensors' aligned sizes (no reuse at all)

    @property
    def ratio(self) -> float:
        return self.peak_bytes / self.lower_bound_bytes if self.lower_bound_bytes else 1.0

    def as_dict(self) -> dict:
        return {"peak_bytes": self.peak_bytes, "lower_bound_bytes": self.lower_bound_bytes,
                "tensor_bytes": self.tensor_bytes, "peak_over_lower_bound": round(self.ratio, 4)}


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def lifetime(b: Buffer, last_step: int) -> tuple[int, int]:
    """Inclusive step range a buffer occupies DRAM; model-level tensors live throughout."""
    if b.role != Role.INTERMEDIATE:
        return 0, last_step
    return b.defined_at, max(b.defined_at, b.last_use)


def plan(buffers: list[Buffer], last_step: int, align: int) -> PlanReport:
    spans = {id(b): lifetime(b, last_step) for b in buffers}
    size = {id(b): _align(b.nbytes, align) for b in buffers}
    placed: list[Buffer] = []
    order = sorted(range(len(buffers)), key=lambda i: (-size[id(buffers[i])], spans[id(buffers[i])][0], i))
    for i in order:
        b = buffers[i]
        lo, hi = spans[id(b)]
        busy = sorted((p.dram_offset, p.dram_offset + size[id(p)]) for p in placed
                      if spans[id(p)][0] <= hi and lo <= spans[id(p)][1])
        offset = 0
        for start, end in busy:
            if offset + size[id(b)] <= start:
                break
            offset = max(offset, end)
        b.dram_offset = offset
        placed.append(b)
    peak = max((b.dram_offset + size[id(b)] for b in buffers), default=0)
    events = sorted({s for s, _ in spans.values()})
    lower = max((sum(size[id(b)] for b in buffers if spans[id(b)][0] <= t <= spans[id(b)][1]) for t in events),
                default=0)
    return PlanReport(peak, lower, sum(size.values()))
