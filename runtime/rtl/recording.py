"""What Python put into a co-simulation, recorded so a C++ main can replay the run without Python.

tb_cosim.py records every value it drives into the DUT, every answer and DMA descriptor it posts
to the firmware port (rtl/tb/firmware_port.cpp) and every DRAM byte it writes, each with the
simulation time (in simulator steps, 1 ps) at which it happened; rtl/tb/replay_main.cpp applies
them at those times to the same design. The co-simulation drives signals from cocotb callbacks,
after the time slot's evaluation; the firmware posts and writes host-op results to DRAM during
the evaluation of the slot its request was handed over in, and the design reads neither before
the next clock edge. The replay applies every record after its slot's evaluation, so it
reproduces the run cycle for cycle (runtime/rtl/replay.py checks that it does).

The file format is defined once, in atalla/tb_formats.py, for the writer here and the reader in
replay_main.cpp (which includes the header generated from it).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

from atalla.tb_formats import REPLAY_DRAM, REPLAY_DRAM_TAG, REPLAY_HEADER, REPLAY_MAGIC, REPLAY_RECORD
from atalla.tb_formats import ReplayPort as Port

_PORT_TAGS = frozenset(Port)

_RECORD = struct.Struct(REPLAY_RECORD.format)
_DRAM = struct.Struct(REPLAY_DRAM.format)


@dataclass
class Write:
    time: int
    signal: str
    value: int


@dataclass
class DramWrite:
    time: int
    address: int
    data: bytes


@dataclass
class Post:
    time: int
    port: Port
    words: tuple[int, ...]


@dataclass
class Recording:
    dram_bytes: int
    window_start: int = 0
    end_time: int = 0
    records: list[Write | DramWrite | Post] = field(default_factory=list)

    def write(self, time: int, signal: str, value: int) -> None:
        if value < 0:
            raise ValueError(f"recording {signal}: negative value {value}")
        self.records.append(Write(time, signal, value))

    def dram(self, time: int, address: int, data: bytes) -> None:
        if address + len(data) > self.dram_bytes:
            raise ValueError(f"recording DRAM bytes [{address:#x}, +{len(data)}) outside {self.dram_bytes:#x}")
        self.records.append(DramWrite(time, address, bytes(data)))

    def post(self, time: int, port: Port, words: tuple[int, ...]) -> None:
        if any(not 0 <= w <= 0xFFFFFFFF for w in words):
            raise ValueError(f"recording a {port.name} post: {words} are not all 32-bit words")
        self.records.append(Post(time, port, tuple(words)))

    def save(self, path: Path) -> None:
        times = [r.time for r in self.records]
        if times != sorted(times):
            raise ValueError("recording: records are not in time order")
        signals = list(dict.fromkeys(r.signal for r in self.records if isinstance(r, Write)))
        tags = {name: i for i, name in enumerate(signals)}
        header = {"magic": REPLAY_MAGIC, "dram_bytes": self.dram_bytes, "window_start": self.window_start,
                  "end_time": self.end_time, "signal_count": len(signals)}
        out = [REPLAY_HEADER.pack(header)]
        for name in signals:
            encoded = name.encode()
            out += [struct.pack("<I", len(encoded)), encoded]
        for r in self.records:
            if isinstance(r, Write):
                words = [(r.value >> (32 * i)) & 0xFFFFFFFF for i in range(max(1, -(-r.value.bit_length() // 32)))]
                out += [_RECORD.pack(r.time, tags[r.signal]), struct.pack(f"<I{len(words)}I", len(words), *words)]
            elif isinstance(r, Post):
                out += [_RECORD.pack(r.time, r.port), struct.pack(f"<I{len(r.words)}I", len(r.words), *r.words)]
            else:
                out += [_RECORD.pack(r.time, REPLAY_DRAM_TAG), _DRAM.pack(r.address, len(r.data)), r.data]
        path.write_bytes(b"".join(out))

    @classmethod
    def load(cls, path: Path) -> Recording:
        raw = path.read_bytes()
        header = REPLAY_HEADER.unpack(raw)
        if header["magic"] != REPLAY_MAGIC:
            raise ValueError(f"{path}: not a co-simulation recording (magic {header['magic']!r})")
        at, signals = REPLAY_HEADER.size, []
        for _ in range(header["signal_count"]):
            (length,) = struct.unpack_from("<I", raw, at)
            signals.append(raw[at + 4 : at + 4 + length].decode())
            at += 4 + length
        rec = cls(header["dram_bytes"], header["window_start"], header["end_time"])
        while at < len(raw):
            time, tag = _RECORD.unpack_from(raw, at)
            at += _RECORD.size
            if tag == REPLAY_DRAM_TAG:
                address, length = _DRAM.unpack_from(raw, at)
                at += _DRAM.size
                rec.records.append(DramWrite(time, address, raw[at : at + length]))
                at += length
            else:
                (n,) = struct.unpack_from("<I", raw, at)
                words = struct.unpack_from(f"<{n}I", raw, at + 4)
                if tag in _PORT_TAGS:
                    rec.records.append(Post(time, Port(tag), words))
                else:
                    rec.records.append(Write(time, signals[tag], sum(w << (32 * i) for i, w in enumerate(words))))
                at += 4 + 4 * n
        return rec
