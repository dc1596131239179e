"""What Python put into a co-simulation, recorded so a C++ main can replay the run without Python.

tb_cosim.py records every value it drives into the DUT, every answer and DMA descriptor it posts
to the firmware port (rtl/tb/firmware_port.cpp) and every DRAM byte it writes, each with the
simulation time (in simulator steps, 1 ps) at which it happened; rtl/tb/replay_main.cpp applies
them at those times to the same design. The co-simulation drives signals from cocotb callbacks,
after the time slot's evaluation; the firmware posts and writes host-op results to DRAM during
the evaluation of the slot its request was handed over in, and the design reads neither before
the next clock edge. The replay applies every record after its slot's evaluation, so it
reproduces the run cycle for cycle (cocotb_tests/replay.py checks that it does).

The file format, the one definition that the writer here and the reader in replay_main.cpp
follow (all integers little-endian):

    header   8 bytes  magic b"ATLRPLY2"
             u64      dram_bytes    the DRAM model's size (allocated zeroed before time 0)
             u64      window_start  time at which the co-simulation started its wall clock
             u64      end_time      time at which it saw done, fault or watchdog
             u32      n_signals
    signals  n_signals x (u32 name_length, name bytes in UTF-8): public signals of atalla_tb
    records  until the end of the file, in nondecreasing time:
             u64 time, u32 tag, then
               tag <  n_signals:  a write of that signal: u32 n_words, n_words x u32 (the value,
                                  least significant word first)
               tag == DRAM_TAG:   DRAM bytes: u64 address, u64 length, length bytes
               tag == a Port:     words posted to the firmware port: u32 n_words, n_words x u32
                                  (ANSWER: status, value, delay; DMA: the descriptor's words)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path

MAGIC = b"ATLRPLY2"
DRAM_TAG = 0xFFFFFFFF


class Port(IntEnum):
    """What Python posts to the firmware port, by record tag."""

    ANSWER = 0xFFFFFFFE  # atalla_fw_answer(status, value, delay)
    DMA = 0xFFFFFFFD  # atalla_fw_dma(descriptor words)


_PORT_TAGS = frozenset(Port)

_HEADER = struct.Struct("<8sQQQI")
_RECORD = struct.Struct("<QI")


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
        out = [_HEADER.pack(MAGIC, self.dram_bytes, self.window_start, self.end_time, len(signals))]
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
                out += [_RECORD.pack(r.time, DRAM_TAG), struct.pack("<QQ", r.address, len(r.data)), r.data]
        path.write_bytes(b"".join(out))

    @classmethod
    def load(cls, path: Path) -> Recording:
        raw = path.read_bytes()
        magic, dram_bytes, window_start, end_time, n_signals = _HEADER.unpack_from(raw)
        if magic != MAGIC:
            raise ValueError(f"{path}: not a co-simulation recording (magic {magic!r})")
        at, signals = _HEADER.size, []
        for _ in range(n_signals):
            (length,) = struct.unpack_from("<I", raw, at)
            signals.append(raw[at + 4 : at + 4 + length].decode())
            at += 4 + length
        rec = cls(dram_bytes, window_start, end_time)
        while at < len(raw):
            time, tag = _RECORD.unpack_from(raw, at)
            at += _RECORD.size
            if tag == DRAM_TAG:
                address, length = struct.unpack_from("<QQ", raw, at)
                rec.records.append(DramWrite(time, address, raw[at + 16 : at + 16 + length]))
                at += 16 + length
            else:
                (n,) = struct.unpack_from("<I", raw, at)
                words = struct.unpack_from(f"<{n}I", raw, at + 4)
                if tag in _PORT_TAGS:
                    rec.records.append(Post(time, Port(tag), words))
                else:
                    rec.records.append(Write(time, signals[tag], sum(w << (32 * i) for i, w in enumerate(words))))
                at += 4 + 4 * n
        return rec
