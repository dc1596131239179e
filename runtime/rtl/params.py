"""The Verilator parameters of the RTL's top modules for a hardware config.

One table says what each configurable parameter name of the RTL is in a HardwareConfig (the RTL
uses a name for one thing everywhere), another which of them each top module takes. The benches
build with these, the lint tests lint with them and cosim.design builds the whole design with
them, so a config reaches every module the same way.
"""

from __future__ import annotations

from collections.abc import Callable

from atalla.config import HardwareConfig

Parameters = tuple[tuple[str, int | str], ...]  # (name, value); a str is a sized SV literal

_FROM_CONFIG: dict[str, Callable[[HardwareConfig], int | str]] = {
    "ARRAY_ROWS": lambda c: c.array_rows,
    "ARRAY_COLS": lambda c: c.array_cols,
    "ROWS": lambda c: c.array_rows,
    "COLS": lambda c: c.array_cols,
    "LANES": lambda c: c.lanes,
    "SP_BYTES": lambda c: c.sp_bytes,
    "SP_ROW_BYTES": lambda c: c.sp_row_bytes,
    "ROW_BYTES": lambda c: c.sp_row_bytes,
    "SP_ROWS": lambda c: c.sp_rows,
    "ROW_ADDR_BITS": lambda c: (c.sp_rows - 1).bit_length(),  # $clog2(SP_ROWS)
    "SP_BANKS": lambda c: c.sp_banks,
    "BANK_RD_PORTS": lambda c: c.sp_bank_read_ports,
    "BANK_WR_PORTS": lambda c: c.sp_bank_write_ports,
    # A longint: a plain -G number would be 32 bits wide.
    "DRAM_BYTES": lambda c: f"64'd{c.dram_bytes}",
    "DRAM_LATENCY": lambda c: c.dram_latency,
    "DMA_BYTES_PER_CYCLE": lambda c: c.dma_bytes_per_cycle,
    "BEAT_BYTES": lambda c: c.dma_bytes_per_cycle,
    "NUM_HANDLES": lambda c: c.num_handles,
    "NUM_TICKETS": lambda c: c.num_tickets,
    "DIV_LATENCY": lambda c: c.vec_div_latency,
    "REDUCE_LATENCY": lambda c: c.vec_reduce_latency,
}

# The config parameters of each design block, in the order of its module header.
_BLOCKS: dict[str, tuple[str, ...]] = {
    "systolic_array": ("ROWS", "COLS"),
    "gemm_unit": ("ROWS", "COLS", "LANES", "ROW_ADDR_BITS"),
    "vector_unit": ("LANES", "ROW_ADDR_BITS", "DIV_LATENCY", "REDUCE_LATENCY"),
    "cmdproc": ("ARRAY_ROWS", "ARRAY_COLS", "ROW_BYTES", "ROW_ADDR_BITS", "NUM_HANDLES", "NUM_TICKETS"),
    "mailbox": (),
    "scratchpad": ("SP_ROWS", "ROW_BYTES", "SP_BANKS"),
    "dram": ("DRAM_BYTES", "DRAM_LATENCY", "BEAT_BYTES"),
    "dma": ("ROW_BYTES", "SP_ROWS", "BEAT_BYTES", "DRAM_BYTES"),
    "sp_arbiter": ("SP_BANKS", "ROW_ADDR_BITS", "BANK_RD_PORTS", "BANK_WR_PORTS"),
    "atalla_top": ("ARRAY_ROWS", "ARRAY_COLS", "SP_BYTES", "SP_ROW_BYTES", "SP_BANKS", "BANK_RD_PORTS", "BANK_WR_PORTS",
                   "DRAM_BYTES", "DRAM_LATENCY", "DMA_BYTES_PER_CYCLE", "NUM_HANDLES", "NUM_TICKETS", "DIV_LATENCY",
                   "REDUCE_LATENCY"),
}
# A testbench (rtl/tb/) takes the parameters of the blocks it wraps.
_TOPS: dict[str, tuple[str, ...]] = {
    **_BLOCKS,
    "array_tb": _BLOCKS["systolic_array"],
    "gemm_tb": _BLOCKS["gemm_unit"],
    "vector_tb": _BLOCKS["vector_unit"],
    "cmdproc_tb": _BLOCKS["cmdproc"],
    "dma_tb": ("ROW_BYTES", "SP_ROWS", "SP_BANKS", "BEAT_BYTES", "DRAM_BYTES", "DRAM_LATENCY"),
    "atalla_tb": _BLOCKS["atalla_top"],
}


def verilator_parameters(config: HardwareConfig, top: str) -> Parameters:
    """The parameters of module `top` (a design block or a testbench) that come from the config."""
    if top not in _TOPS:
        raise ValueError(f"no Verilator parameters are known for module {top!r}; known: {', '.join(_TOPS)}")
    return tuple((name, _FROM_CONFIG[name](config)) for name in _TOPS[top])


def parameter_flags(parameters: Parameters) -> list[str]:
    """Verilator's -G options for the parameters (what the cocotb runner passes when it builds)."""
    return [f"-G{name}={value}" for name, value in parameters]
