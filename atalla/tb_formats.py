"""Binary formats of the co-simulation testbench: the one definition that Python and the C++ of
rtl/tb/ share. rtl/tb/atalla_tb_formats.h is generated from this module (atalla.codegen).

Trace records. rtl/tb/trace_recorder.cpp keeps a TRACE_RECORD for each event atalla_tb.sv
reports (its kind an isa.TraceEvent); tb_cosim.py copies them out as an array of TRACE_DTYPE,
and the replay writes them to replay_trace.bin.

Replay recordings. runtime/rtl/recording.py writes what Python put into a co-simulation and
rtl/tb/replay_main.cpp reads it back (all integers little-endian, times in simulator steps, 1 ps):

    header   REPLAY_HEADER
    signals  signal_count x (u32 name_length, name bytes in UTF-8): public signals of atalla_tb
    records  until the end of the file, in nondecreasing time: REPLAY_RECORD, then by its tag
               tag <  signal_count:    a write of that signal: u32 n_words, n_words x u32 (the
                                       value, least significant word first)
               tag == REPLAY_DRAM_TAG: DRAM bytes: REPLAY_DRAM, then length bytes
               tag == a ReplayPort:    words posted to the firmware port: u32 n_words, n_words x u32
                                       (ANSWER: status, value, delay; DMA: the descriptor's words)
"""

from __future__ import annotations

from enum import IntEnum

from atalla.blob_format import Record

TRACE_RECORD = Record("atalla_trace_record", (
    ("cycle", "i64"),
    ("kind", "i32"),  # an isa.TraceEvent
    ("a", "i32"),  # what a and b are depends on the kind (isa.TraceEvent)
    ("b", "i32"),
    ("pad", "i32"),  # zero: the size stays a multiple of 8, where cycle is aligned in an array
))
TRACE_DTYPE = TRACE_RECORD.dtype

REPLAY_MAGIC = b"ATLRPLY2"
REPLAY_DRAM_TAG = 0xFFFFFFFF


class ReplayPort(IntEnum):
    """What Python posts to the firmware port (rtl/tb/firmware_port.cpp), by record tag."""

    ANSWER = 0xFFFFFFFE  # atalla_fw_answer(status, value, delay)
    DMA = 0xFFFFFFFD  # atalla_fw_dma(descriptor words)


REPLAY_HEADER = Record("atalla_replay_header", (
    ("magic", f"char[{len(REPLAY_MAGIC)}]"),  # REPLAY_MAGIC
    ("dram_bytes", "u64"),  # the DRAM model's size (allocated zeroed before time 0)
    ("window_start", "u64"),  # time at which the co-simulation started its wall clock
    ("end_time", "u64"),  # time at which it saw done, fault or watchdog
    ("signal_count", "u32"),
))

REPLAY_RECORD = Record("atalla_replay_record", (
    ("time", "u64"),
    ("tag", "u32"),  # a signal's index, REPLAY_DRAM_TAG or a ReplayPort
))

REPLAY_DRAM = Record("atalla_replay_dram", (
    ("address", "u64"),
    ("length", "u64"),  # bytes that follow
))

RECORDS = (TRACE_RECORD, REPLAY_HEADER, REPLAY_RECORD, REPLAY_DRAM)
