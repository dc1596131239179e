"""The emulator's DMA engine: a transfer copies at once (completion is the command processor's ticket)."""

from __future__ import annotations

import numpy as np

from atalla.config import HardwareConfig
from atalla.dma import DmaDescriptor
from atalla.isa import DmaDirection


class ImmediateDmaEngine:
    """Reference engine: copies at once (the emulator's behaviour), over uint8 DRAM and scratchpad."""

    def __init__(self, config: HardwareConfig, dram: np.ndarray, scratchpad: np.ndarray) -> None:
        self._dram = dram
        self._dram16 = dram.view("<u2")
        self._sp_rows = scratchpad.view("<u2").reshape(-1, config.lanes)
        self._row_bytes = config.sp_row_bytes

    def start(self, desc: DmaDescriptor) -> None:
        rows = slice(desc.sp_addr // self._row_bytes, desc.sp_addr // self._row_bytes + desc.rows)
        gather = desc.direction == DmaDirection.GATHER
        elems = desc.dram_elements(desc.row_ids(self._dram) if gather else None)
        if desc.direction == DmaDirection.LOAD or gather:
            self._sp_rows[rows] = 0
            self._sp_rows[rows, : desc.cols] = self._dram16[elems]
        else:
            self._dram16[elems] = self._sp_rows[rows, : desc.cols]
