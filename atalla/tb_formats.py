"""Binary formats of the co-simulation testbench: the one definition that Python and the C++ of
rtl/tb/ share. rtl/tb/atalla_tb_formats.h is generated from this module (atalla.codegen).

Trace records. rtl/tb/trace_recorder.cpp keeps a TRACE_RECORD for each event atalla_tb.sv
reports (its kind an isa.TraceEvent); tb_cosim.py copies them out as an array of TRACE_DTYPE,
and the replay writes them to replay_trace.bin.
"""

from __future__ import annotations

from atalla.blob_format import Record

TRACE_RECORD = Record("atalla_trace_record", (
    ("cycle", "i64"),
    ("kind", "i32"),  # an isa.TraceEvent
    ("a", "i32"),  # what a and b are depends on the kind (isa.TraceEvent)
    ("b", "i32"),
    ("pad", "i32"),  # zero: the size stays a multiple of 8, where cycle is aligned in an array
))
TRACE_DTYPE = TRACE_RECORD.dtype

RECORDS = (TRACE_RECORD,)
