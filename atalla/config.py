"""The one hardware configuration: the compiler tiles for it, the emulator models it, the RTL is
built with it (Verilator -G parameters) and every blob records the one it was compiled for."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from atalla.isa import BF16_BYTES, INDEX_BYTES
from atalla.numerics import DIV_QUOTIENT_BITS


CONFIG_NAME_BYTES = 16  # a config's name as the blob's config record holds it, NUL-padded


@dataclass(frozen=True)
class HardwareConfig:
    name: str
    array_rows: int  # systolic array rows: the K extent of one weight tile
    array_cols: int  # systolic array columns: the N extent of one weight tile
    sp_bytes: int  # scratchpad capacity
    sp_row_bytes: int  # one scratchpad row: `lanes` bf16 elements
    sp_banks: int
    # Ports of each bank per cycle (docs/rtl.md, "Scratchpad"): requests beyond them are arbitrated
    # and the losers stall. The vector unit reads two operand rows in one cycle, so two read ports
    # let every single request fit a bank alone.
    sp_bank_read_ports: int
    sp_bank_write_ports: int
    sp_page_bytes: int  # allocation granule and alignment of scratchpad buffers
    dram_bytes: int
    dram_align: int  # alignment of every tensor the memory planner places
    dram_latency: int  # cycles from a DRAM request to its first beat
    dma_bytes_per_cycle: int
    num_handles: int  # entries in the command processor's handle table
    num_tickets: int  # DMA tickets the command processor can track at once
    # Firmware service latency per mailbox call kind, in cycles of the control core.
    fw_alloc_cycles: int
    fw_free_cycles: int
    fw_dma_cycles: int
    fw_host_cycles: int
    # Vector unit pipeline depths (docs/rtl.md, "Vector unit"): cycles from a tile row's operands
    # arriving to its write. DIV's divider and ROWSUM/ROWMAX's chain along the lanes are staged;
    # every other function takes 1.
    vec_div_latency: int
    vec_reduce_latency: int

    @property
    def lanes(self) -> int:
        """bf16 elements per scratchpad row; also the vector unit's width."""
        return self.sp_row_bytes // BF16_BYTES

    @property
    def sp_rows(self) -> int:
        return self.sp_bytes // self.sp_row_bytes

    def __post_init__(self) -> None:
        def need(ok: bool, what: str) -> None:
            if not ok:
                raise ValueError(f"hardware config {self.name!r}: {what}")

        need(isinstance(self.name, str) and 0 < len(self.name.encode()) <= CONFIG_NAME_BYTES,
             f"name must be 1..{CONFIG_NAME_BYTES} bytes of text (the blob's config record holds it)")
        for f in fields(self):
            if f.name != "name":
                need(type(getattr(self, f.name)) is int and getattr(self, f.name) >= 0,
                     f"{f.name} must be a non-negative integer")
        for name in ("array_rows", "array_cols", "sp_bytes", "sp_row_bytes", "sp_banks", "sp_page_bytes",
                     "dram_bytes", "dram_align", "dma_bytes_per_cycle", "num_handles", "num_tickets"):
            need(getattr(self, name) > 0, f"{name} must be positive")  # before any rule divides by it
        need(self.sp_row_bytes % BF16_BYTES == 0 and self.lanes > 0, "sp_row_bytes must hold whole bf16 elements")
        need(self.array_rows <= self.lanes and self.array_cols <= self.lanes,
             "a scratchpad row must hold one array row and one array column of bf16")
        need(self.dma_bytes_per_cycle % INDEX_BYTES == 0, "dma_bytes_per_cycle must hold whole int32 row ids")
        need(self.sp_page_bytes % self.sp_row_bytes == 0, "sp_page_bytes must be whole rows")
        need(self.sp_bytes % self.sp_page_bytes == 0, "sp_bytes must be whole pages")
        need(self.sp_rows < 1 << 24, "scratchpad rows must fit the 24-bit row field of a buffer reference")
        need(self.sp_rows % self.sp_banks == 0, "sp rows must split evenly into banks")
        need(self.sp_banks >= 2, "sp_banks must be at least 2 (a two-row access spans two banks)")
        need(2 <= self.sp_bank_read_ports <= 8,
             "sp_bank_read_ports must be 2..8 (the vector unit reads two operands of one bank in a cycle)")
        need(1 <= self.sp_bank_write_ports <= 8, "sp_bank_write_ports must be 1..8")
        need(self.dram_align & (self.dram_align - 1) == 0, "dram_align must be a power of two")
        need(self.dram_bytes % self.dram_align == 0 and self.dram_bytes <= 1 << 32, "dram_bytes must be aligned and <= 4 GiB")
        need(self.num_handles <= 256, "num_handles must be 1..256 (8-bit handle field)")
        need(1 <= self.vec_div_latency <= DIV_QUOTIENT_BITS,
             f"vec_div_latency must be 1..{DIV_QUOTIENT_BITS} (each stage of the divider retires a quotient bit)")
        need(1 <= self.vec_reduce_latency <= max(1, self.lanes - 1),
             "vec_reduce_latency must be 1..max(1, lanes - 1) (each stage of the reduction adds a lane)")

    def as_dict(self) -> dict[str, int | str]:
        return asdict(self)


CONFIGS: dict[str, HardwareConfig] = {
    cfg.name: cfg
    for cfg in (
        # Small and fast for regressions.
        HardwareConfig(name="small", array_rows=8, array_cols=8, sp_bytes=64 * 1024, sp_row_bytes=16,
                       sp_banks=8, sp_bank_read_ports=2, sp_bank_write_ports=1, sp_page_bytes=256, dram_bytes=16 << 20, dram_align=64,
                       dram_latency=20, dma_bytes_per_cycle=16, num_handles=64, num_tickets=16,
                       fw_alloc_cycles=200, fw_free_cycles=100, fw_dma_cycles=150, fw_host_cycles=2000,
                       vec_div_latency=7, vec_reduce_latency=4),
        # The product shape of the real Atalla; DRAM enough for GPT-2 small (124M bf16 parameters).
        HardwareConfig(name="atalla32", array_rows=32, array_cols=32, sp_bytes=1 << 20, sp_row_bytes=64,
                       sp_banks=32, sp_bank_read_ports=2, sp_bank_write_ports=1, sp_page_bytes=4096, dram_bytes=512 << 20, dram_align=64,
                       dram_latency=40, dma_bytes_per_cycle=64, num_handles=64, num_tickets=16,
                       fw_alloc_cycles=200, fw_free_cycles=100, fw_dma_cycles=150, fw_host_cycles=2000,
                       vec_div_latency=7, vec_reduce_latency=16),
    )
}
DEFAULT_CONFIG = "small"


def get_config(name: str) -> HardwareConfig:
    """A built-in config by name, or a config file: a path ending in .json (load_config)."""
    if name.endswith(".json"):
        return load_config(Path(name))
    try:
        return CONFIGS[name]
    except KeyError:
        raise ValueError(f"unknown hardware config {name!r}; known: {', '.join(CONFIGS)}, or a .json file of "
                         "HardwareConfig's fields") from None


def load_config(path: Path) -> HardwareConfig:
    """A hardware config from a JSON object with every HardwareConfig field (as as_dict() gives them)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"hardware config file {path}: {e}") from None
    names = [f.name for f in fields(HardwareConfig)]
    if not isinstance(data, dict):
        raise ValueError(f"hardware config file {path}: a JSON object of the fields {', '.join(names)} expected")
    missing, unknown = [n for n in names if n not in data], sorted(set(data) - set(names))
    if missing or unknown:
        raise ValueError(f"hardware config file {path}: " + "; ".join(
            f"{what} {', '.join(which)}" for what, which in (("missing", missing), ("unknown field", unknown)) if which))
    return HardwareConfig(**data)
