"""Builds the command stream: scratchpad handles, DMA tickets and the commands that use them.

The compiler never chooses scratchpad addresses; it only guarantees that what it keeps live
fits. It replays the firmware's own allocator policy to check that, so a program that compiles
never runs out of scratchpad on the real allocator.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from atalla.allocator import AllocatorError, ScratchpadAllocator
from atalla.config import HardwareConfig
from atalla.blob_format import DType
from atalla.isa import (BF16_BYTES, BMODE_SHIFT, COMMAND_FIELDS, INDEX_BYTES, BMode, Command, Flag, Opcode, VecFunc,
                        command, make_ref, tile_sp_rows)
from atalla.numerics import flush
from compiler.errors import CompileError
from compiler.values import View


@dataclass(frozen=True)
class Tile:
    """A scratchpad buffer: `rows` tile rows of up to `lanes` elements, bf16 or fp32."""

    handle: int
    rows: int
    fp32: bool
    base: int = 0  # first scratchpad row within the handle's buffer (tiles of one ALLOC)

    def ref(self, row: int = 0) -> int:
        """Reference to tile row `row`."""
        return make_ref(self.handle, self.base + tile_sp_rows(row, self.fp32))

    @property
    def sp_rows(self) -> int:
        return tile_sp_rows(self.rows, self.fp32)


@dataclass(frozen=True)
class Block:
    """A 2-D strided block of a DRAM tensor: what one DMA command moves."""

    view: View
    offset: int  # elements from the buffer start
    rows: int
    cols: int
    row_stride: int
    col_stride: int

    def sub(self, r0: int, c0: int, rows: int, cols: int) -> Block:
        return Block(self.view, self.offset + r0 * self.row_stride + c0 * self.col_stride,
                     rows, cols, self.row_stride, self.col_stride)


def scalar_bits(value: float) -> int:
    """A scalar operand as the fp32 bits the VEC command carries (flushed like any fp32)."""
    return int(flush(np.array([value], dtype=np.float32)).view(np.uint32)[0])


class Emitter:
    def __init__(self, config: HardwareConfig):
        self.config = config
        self.commands: list[Command] = []
        self._free_handles = deque(range(config.num_handles))
        self._free_tickets = deque(range(config.num_tickets))
        # Transfers in flight, oldest first: (transfer id, ticket). Kernels hold transfer ids, so a
        # transfer the emitter already waited for (to free a ticket) is never waited for twice.
        self._pending: deque[tuple[int, int]] = deque()
        self._transfers = 0
        self._sp = ScratchpadAllocator(config.sp_bytes, config.sp_page_bytes)
        self._addr: dict[int, int] = {}
        self.sp_peak_bytes = 0
        self.step = 0  # the lowering step (graph node) being emitted: DMA marks buffer liveness with it
        # (command index, field, Buffer, byte offset): DRAM addresses to fill in once the buffers are placed
        self.dram_refs: list[tuple[int, str, object, int]] = []

    # -- scratchpad -------------------------------------------------------------------------
    def tile_bytes(self, rows: int, fp32: bool) -> int:
        return tile_sp_rows(rows, fp32) * self.config.sp_row_bytes

    def alloc(self, rows: int, fp32: bool = False) -> Tile:
        return self.alloc_group([(rows, fp32)])[0]

    def alloc_group(self, shapes: list[tuple[int, bool]]) -> list[Tile]:
        """Tiles of (rows, fp32) side by side in one buffer: one ALLOC (and one FREE) for all."""
        if not self._free_handles:
            raise CompileError(f"kernel needs more than {self.config.num_handles} scratchpad handles at once")
        handle = self._free_handles.popleft()
        tiles, base = [], 0
        for rows, fp32 in shapes:
            tiles.append(Tile(handle, rows, fp32, base))
            base += tiles[-1].sp_rows
        nbytes = base * self.config.sp_row_bytes
        try:
            self._addr[handle] = self._sp.alloc(nbytes, owner=f"handle {handle}")
        except AllocatorError as e:
            raise CompileError(f"kernel keeps too much live in the scratchpad: {e}") from None
        self.sp_peak_bytes = max(self.sp_peak_bytes, self._sp.used_bytes)
        self.commands.append(command(Opcode.ALLOC, handle=handle, bytes=nbytes))
        return tiles

    def free(self, *tiles: Tile) -> None:
        """Free the buffers of these tiles (each buffer once, however many of its tiles are given)."""
        for handle in dict.fromkeys(t.handle for t in tiles):
            self._sp.free(self._addr.pop(handle), owner=f"handle {handle}")
            self._free_handles.append(handle)
            self.commands.append(command(Opcode.FREE, handle=handle))

    def sp_free_bytes(self) -> int:
        return self.config.sp_bytes - self._sp.used_bytes

    # -- DMA ----------------------------------------------------------------------------------
    def _ticket(self) -> int:
        if not self._free_tickets:
            self.wait(self._pending[0][0])
        return self._free_tickets.popleft()

    def _dma(self, op: Opcode, tile: Tile, row: int, block: Block, row_ids: View | None = None) -> int:
        if tile.fp32:
            raise CompileError("DMA moves bf16 tiles only")
        if block.cols > self.config.lanes:
            raise CompileError(f"DMA block of {block.cols} columns is wider than {self.config.lanes} lanes")
        buffer = block.view.buffer
        if buffer.dtype != DType.BF16:
            raise CompileError(f"DMA of {buffer.name!r}: its {buffer.dtype.name} elements are not bf16")
        ticket = self._ticket()
        self._transfers += 1
        self._pending.append((self._transfers, ticket))
        # DRAM addresses are known only after memory planning: recorded here, patched by resolve_dram().
        self._dram_ref("dram_addr", buffer, BF16_BYTES * block.offset, reads=op == Opcode.DMA_LOAD)
        col_stride = block.col_stride
        if row_ids is not None:
            self._dram_ref("col_stride", row_ids.buffer, INDEX_BYTES * row_ids.offset, reads=True)
            col_stride = 0
        self.commands.append(command(
            op, flags=Flag.GATHER if row_ids is not None else 0, sp=tile.ref(row), dram_addr=0, rows=block.rows,
            cols=block.cols, row_stride=block.row_stride, col_stride=col_stride, ticket=ticket))
        return self._transfers

    def _dram_ref(self, field: str, buffer, byte_offset: int, reads: bool) -> None:
        """The next command's `field` holds the DRAM address of `buffer` + byte_offset."""
        buffer.last_use = max(buffer.last_use, self.step)
        buffer.read = buffer.read or reads
        self.dram_refs.append((len(self.commands), field, buffer, byte_offset))

    def load(self, tile: Tile, block: Block, row: int = 0) -> int:
        """Start a DMA into the tile; returns the transfer's id for wait()."""
        return self._dma(Opcode.DMA_LOAD, tile, row, block)

    def store(self, tile: Tile, block: Block, row: int = 0) -> int:
        return self._dma(Opcode.DMA_STORE, tile, row, block)

    def gather(self, tile: Tile, table: Block, row_ids: View) -> int:
        """Start a GATHER into the tile: row r is table row row_ids[r] (columns as `table` has them;
        its rows say how many ids, from the contiguous int32 view row_ids)."""
        if row_ids.buffer.dtype != DType.INT32 or row_ids.ndim != 1 or (row_ids.shape[0] > 1 and row_ids.strides != (1,)):
            raise CompileError(f"GATHER row ids must be a contiguous int32 run, not {row_ids}")
        if table.col_stride != 1:
            raise CompileError("GATHER reads contiguous table rows (column stride 1)")
        return self._dma(Opcode.DMA_LOAD, tile, 0, table, row_ids)

    def wait(self, transfer: int) -> None:
        """WAIT for a transfer (the id load/store returned), unless it was already waited for."""
        for entry in self._pending:
            if entry[0] == transfer:
                self._pending.remove(entry)
                self._free_tickets.append(entry[1])
                self.commands.append(command(Opcode.WAIT, ticket=entry[1]))
                return

    def wait_all(self) -> None:
        while self._pending:
            self.wait(self._pending[0][0])

    # -- compute ------------------------------------------------------------------------------
    def gemm(self, a: Tile, b: Tile, d: Tile, m: int, k: int, n: int, *, c: Tile | None = None,
             c_is_row: bool = False, a_row: int = 0, a_step: int = 1, b_row: int = 0, c_row: int = 0,
             d_row: int = 0) -> None:
        """D = (C if given else 0) + A @ B; C and D fp32 or bf16 as their tiles are; c_is_row: C's
        row c_row is added to every row (a bias)."""
        cfg = self.config
        if k > cfg.array_rows or n > cfg.array_cols or a.fp32 or b.fp32 or not 0 <= a_step < 256:
            raise CompileError(f"GEMM tile {m}x{k}x{n} (A row step {a_step}) does not fit the "
                               f"{cfg.array_rows}x{cfg.array_cols} array")
        flags = 0 if d.fp32 else Flag.D_BF16
        if c is not None:
            flags |= Flag.ACCUMULATE | (0 if c.fp32 else Flag.C_BF16) | (Flag.C_ROW if c_is_row else 0)
        self.commands.append(command(Opcode.GEMM, func=a_step, flags=flags, a=a.ref(a_row), b=b.ref(b_row),
                                     c=c.ref(c_row) if c is not None else 0, d=d.ref(d_row), m=m, k=k, n=n))

    def vec(self, func: VecFunc, dst: Tile, a: Tile, b: Tile | float | None = None, *, rows: int, cols: int,
            bmode: BMode = BMode.TILE, dst_row: int = 0, a_row: int = 0, b_row: int = 0) -> None:
        flags = (Flag.DST_FP32 if dst.fp32 else 0) | (Flag.A_FP32 if a.fp32 else 0)
        if isinstance(b, Tile):
            flags |= Flag.B_FP32 if b.fp32 else 0
            b_word = b.ref(b_row)
        elif b is None:
            b_word = 0
        else:
            bmode, b_word = BMode.SCALAR, scalar_bits(b)
        flags |= int(bmode) << BMODE_SHIFT
        self.commands.append(command(Opcode.VEC, func=func, flags=flags, dst=dst.ref(dst_row), a=a.ref(a_row),
                                     b=b_word, rows=rows, cols=cols))

    def capture(self, emit) -> list[Command]:
        """The commands emit() appends, taken out of the stream for the caller to place later with
        place(). Only VEC commands may be captured: they hold no ticket or handle, so where they go
        changes nothing but their order."""
        first = len(self.commands)
        emit()
        captured, self.commands[first:] = self.commands[first:], []
        if any(c.op != Opcode.VEC for c in captured):
            raise CompileError("only VEC commands can be placed later")
        return captured

    def place(self, commands: list[Command]) -> None:
        self.commands.extend(commands)

    def host(self, index: int) -> None:
        self.commands.append(command(Opcode.HOST, index=index))

    def resolve_dram(self) -> None:
        """Fill in DMA DRAM addresses once every buffer has its planned offset."""
        for index, field, buffer, byte_offset in self.dram_refs:
            cmd = self.commands[index]
            args = list(cmd.args)
            args[COMMAND_FIELDS[cmd.op].index(field)] = buffer.dram_offset + byte_offset
            self.commands[index] = Command(cmd.op, cmd.func, cmd.flags, tuple(args))

    def end(self) -> None:
        self.wait_all()
        self.commands.append(command(Opcode.END))
