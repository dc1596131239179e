"""What an RTL run's recorded events say: per-command and per-layer cycles, DMA transfers, the
Perfetto/Chrome timeline and the cycle-stamped mailbox log."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from atalla.isa import BF16_BYTES, MailboxCall, Opcode, TraceEvent
from atalla.program import Program


@dataclass(frozen=True)
class Timeline:
    starts: np.ndarray  # cycle each command started (-1 if it never ran)
    end: int  # cycle the program ended
    dma: list[tuple[int, int, int, int]]  # (command index, ticket, start cycle, done cycle)
    mailbox: list[tuple[int, int, int, int]]  # (call, request cycle, response cycle, status)

    def command_cycles(self) -> np.ndarray:
        """Cycles from each command's start to the next one's (the end for the last)."""
        ran = self.starts >= 0
        bounds = np.append(self.starts[ran], self.end)
        out = np.zeros(len(self.starts), dtype=np.int64)
        out[ran] = np.diff(bounds)
        return out

    def dma_busy_cycles(self) -> int:
        """Cycles in which at least one transfer was in flight."""
        busy, reach = 0, -1
        for start, done in sorted((s, d) for _, _, s, d in self.dma):
            busy += max(0, done - max(start, reach))
            reach = max(reach, done)
        return busy


def timeline(program: Program, events: np.ndarray) -> Timeline:
    starts = np.full(len(program.commands), -1, dtype=np.int64)
    end = int(events["cycle"].max()) if len(events) else 0
    dma, mailbox, open_dma, open_call = [], [], {}, None
    for cycle, kind, a, b in zip(events["cycle"].tolist(), events["kind"].tolist(), events["a"].tolist(),
                                 events["b"].tolist()):
        if kind == TraceEvent.COMMAND:
            starts[a] = cycle
            if program.commands[a].op in (Opcode.DMA_LOAD, Opcode.DMA_STORE):
                open_dma[program.commands[a].field("ticket")] = (a, cycle)
        elif kind == TraceEvent.DMA_DONE and a in open_dma:
            index, start = open_dma.pop(a)
            dma.append((index, a, start, cycle))
        elif kind == TraceEvent.MB_REQUEST:
            open_call = (a, cycle)
        elif kind == TraceEvent.MB_RESPONSE and open_call is not None:
            mailbox.append((open_call[0], open_call[1], cycle, a))
            open_call = None
        elif kind == TraceEvent.END:
            end = cycle
    return Timeline(starts, end, dma, mailbox)


def layer_cycles(program: Program, tl: Timeline) -> list[tuple[str, str, int]]:
    """(node, where, cycles) for every graph node that emitted commands, in program order."""
    per_command = tl.command_cycles()
    out = []
    for node in program.metadata.get("nodes", []):
        first, stop = node["commands"]
        if stop > first:
            out.append((node["node"], node["where"], int(per_command[first:stop].sum())))
    return out


def perfetto(program: Program, tl: Timeline, bank_stalls: dict[str, int] | None = None) -> dict:
    """A Chrome/Perfetto trace: one track per unit, one slice per command, transfer and call.

    Time is in cycles: the viewer's 1 us is one cycle. bank_stalls: the run's cycles each unit
    waited for a scratchpad bank port, shown in the trace's metadata (totals: the design counts
    them, it does not record when)."""
    tracks = {"command processor": 1, "systolic array": 2, "vector unit": 3, "mailbox": 4}
    events = [{"ph": "M", "name": "process_name", "pid": 1, "args": {"name": f"atalla ({program.config.name})"}}]
    events += [{"ph": "M", "name": "thread_name", "pid": 1, "tid": tid, "args": {"name": name}}
               for name, tid in tracks.items()]
    per_command = tl.command_cycles()
    for i, (cmd, start) in enumerate(zip(program.commands, tl.starts.tolist())):
        if start < 0:
            continue
        slice_ = {"ph": "X", "pid": 1, "name": cmd.kind, "ts": start, "dur": int(per_command[i]),
                  "args": {"command": i}}
        events.append({**slice_, "tid": tracks["command processor"]})
        if cmd.op == Opcode.GEMM:
            events.append({**slice_, "tid": tracks["systolic array"]})
        elif cmd.op == Opcode.VEC:
            events.append({**slice_, "tid": tracks["vector unit"]})
    tickets = sorted({t for _, t, _, _ in tl.dma})
    for t in tickets:
        events.append({"ph": "M", "name": "thread_name", "pid": 1, "tid": 100 + t, "args": {"name": f"DMA ticket {t}"}})
    for index, ticket, start, done in tl.dma:
        cmd = program.commands[index]
        events.append({"ph": "X", "pid": 1, "tid": 100 + ticket, "name": cmd.kind, "ts": start, "dur": done - start,
                       "args": {"command": index, "bytes": BF16_BYTES * cmd.field("rows") * cmd.field("cols")}})
    for call, request, response, status in tl.mailbox:
        events.append({"ph": "X", "pid": 1, "tid": tracks["mailbox"], "name": MailboxCall(call).name, "ts": request,
                       "dur": response - request, "args": {"status": status}})
    other = {"time unit": "1 us = 1 cycle"}
    if bank_stalls is not None:
        other["scratchpad bank stall cycles"] = bank_stalls
    return {"traceEvents": events, "displayTimeUnit": "ns", "otherData": other}


def mailbox_log(tl: Timeline, firmware_lines: list[str]) -> str:
    """The firmware's call log with the cycle each request rang and was answered."""
    lines = []
    for i, text in enumerate(firmware_lines):
        if i < len(tl.mailbox):
            _, request, response, _ = tl.mailbox[i]
            lines.append(f"cycle {request:>10} .. {response:>10}  {text}")
        else:
            lines.append(f"cycle {'?':>10} .. {'?':>10}  {text}")
    return "\n".join(lines) + "\n"


def write_trace(path, program: Program, tl: Timeline, bank_stalls: dict[str, int] | None = None) -> None:
    path.write_text(json.dumps(perfetto(program, tl, bank_stalls)))
