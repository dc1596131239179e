"""The firmware's mailbox services: one library behind both the emulator and the cocotb testbench."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from atalla.allocator import AllocatorError, BadFree, OutOfMemory, ScratchpadAllocator
from atalla.config import HardwareConfig
from atalla.dma import DmaDescriptor
from atalla.isa import MAILBOX_ARGS, MailboxCall, Status, call_name
from atalla.program import Program
from firmware.dma import DmaEngine, DmaError, validate
from firmware.host_ops import HostOpError, check_results, run_host_op, warm_up

WORD_LIMIT = 1 << 32  # mailbox arguments are 32-bit words


class CallRecord(NamedTuple):
    kind: MailboxCall | int  # the raw int when the kind is unknown
    args: tuple[int, ...]
    status: Status
    value: int
    message: str  # empty on success


class _BadCall(Exception):
    pass


class Firmware:
    def __init__(self, config: HardwareConfig, program: Program, dram: np.ndarray, dma_engine: DmaEngine,
                 sp_capacity: int | None = None) -> None:
        if dram.dtype != np.uint8 or dram.shape != (config.dram_bytes,):
            raise ValueError(f"firmware DRAM must be uint8[{config.dram_bytes}], got {dram.dtype}{list(dram.shape)}")
        self.config = config
        self.program = program
        self.dram = dram
        self.dma_engine = dma_engine
        self.allocator = ScratchpadAllocator(config.sp_bytes if sp_capacity is None else sp_capacity,
                                             config.sp_page_bytes)
        self.log: list[CallRecord] = []
        self.last_error: str | None = None
        self._checked_host_ops: set[int] = set()  # host ops whose results check_results has passed
        # The firmware runs on a control core: each call kind takes its service latency to answer.
        self.latency = {MailboxCall.ALLOC: config.fw_alloc_cycles, MailboxCall.FREE: config.fw_free_cycles,
                        MailboxCall.DMA: config.fw_dma_cycles, MailboxCall.HOST: config.fw_host_cycles}

    @property
    def sp_peak_bytes(self) -> int:
        return self.allocator.peak_bytes

    def request(self, call: int, words: Sequence[int]) -> tuple[Status, int, int]:
        """Serve a request as the mailbox carries it: the call number and MAILBOX_MAX_ARGS argument
        words, of which the call takes as many as it has arguments. Returns (status, value, cycles
        to answer in); an unknown call is refused (BAD_CALL) in the time of the quickest call."""
        try:
            kind = MailboxCall(call)
        except ValueError:
            return *self.call(call, tuple(words)), min(self.latency.values())
        return *self.call(kind, tuple(words[: len(MAILBOX_ARGS[kind])])), self.latency[kind]

    def call(self, kind: MailboxCall | int, args: tuple[int, ...]) -> tuple[Status, int]:
        """Serve one mailbox request. Never raises for a bad request: the status says what went wrong."""
        args = tuple(map(int, args))
        try:
            kind = MailboxCall(kind)
        except ValueError:
            return self._record(int(kind), args, Status.BAD_CALL, 0, f"unknown mailbox call kind {int(kind)}")
        status, value, message = Status.OK, 0, ""
        try:
            value = self._serve(kind, args)
        except _BadCall as e:
            status, message = Status.BAD_CALL, str(e)
        except OutOfMemory as e:
            status, message = Status.OUT_OF_MEMORY, str(e)
        except BadFree as e:
            status, message = Status.BAD_FREE, str(e)
        except AllocatorError as e:  # a malformed request, e.g. zero bytes
            status, message = Status.BAD_CALL, str(e)
        except DmaError as e:
            status, message = Status.DMA_OUT_OF_BOUNDS, str(e)
        except HostOpError as e:
            status, message = Status.HOST_FAILED, str(e)
        return self._record(kind, args, status, value, message)

    def _serve(self, kind: MailboxCall, args: tuple[int, ...]) -> int:
        names = MAILBOX_ARGS[kind]
        if len(args) != len(names):
            raise _BadCall(f"{kind.name} takes {len(names)} arguments {names}, got {len(args)}: {args}")
        if any(not 0 <= a < WORD_LIMIT for a in args):
            raise _BadCall(f"{kind.name} arguments {args} are not all 32-bit words")
        if kind == MailboxCall.ALLOC:
            handle, nbytes = args
            self._check_handle(kind, handle)
            return self.allocator.alloc(nbytes, f"handle {handle}")
        if kind == MailboxCall.FREE:
            handle, sp_addr = args
            self._check_handle(kind, handle)
            self.allocator.free(sp_addr, f"handle {handle}")
            return 0
        if kind == MailboxCall.DMA:
            try:
                desc = DmaDescriptor.from_args(args)
            except ValueError as e:
                raise _BadCall(str(e)) from None
            validate(desc, self.config, self.allocator.buffers, self.dram, self.program.stream_span())
            self.dma_engine.start(desc)
            return 0
        (index,) = args  # HOST
        if index >= len(self.program.host_ops):
            raise _BadCall(f"HOST index {index}: the program has {len(self.program.host_ops)} host ops")
        op = self.program.host_ops[index]
        try:
            if index not in self._checked_host_ops:
                check_results(op, self.program)
                self._checked_host_ops.add(index)
            run_host_op(op, self.program, self.dram)
        except HostOpError as e:
            raise HostOpError(f"HOST {index}: {e}") from e
        return 0

    def warm_up(self) -> None:
        """What the firmware does once, at boot, rather than inside the first call it serves: check
        each host op's results (the meta device) and run it once on zeros. A failure is left for
        the op's real call to report."""
        for index, op in enumerate(self.program.host_ops):
            try:
                check_results(op, self.program)
                self._checked_host_ops.add(index)
                warm_up(op, self.program)
            except HostOpError:
                pass

    def _check_handle(self, kind: MailboxCall, handle: int) -> None:
        if handle >= self.config.num_handles:
            raise _BadCall(f"{kind.name} handle {handle} >= num_handles {self.config.num_handles}")

    def _record(self, kind: MailboxCall | int, args: tuple[int, ...], status: Status, value: int,
                message: str) -> tuple[Status, int]:
        self.log.append(CallRecord(kind, args, status, value, message))
        if status != Status.OK:
            self.last_error = message
        return status, value

    # ---- reports -------------------------------------------------------------------------------

    def log_lines(self) -> list[str]:
        return [f"#{i} {self._describe(r)} -> {self._outcome(r)}" for i, r in enumerate(self.log)]

    def calls_by_kind(self) -> dict[str, int]:
        return dict(Counter(call_name(r.kind) for r in self.log))

    def _describe(self, r: CallRecord) -> str:
        names = MAILBOX_ARGS.get(r.kind) if isinstance(r.kind, MailboxCall) else None
        if names is None or len(r.args) != len(names):
            return f"{call_name(r.kind)} args={r.args}"
        if r.kind == MailboxCall.ALLOC:
            return f"ALLOC handle={r.args[0]} bytes={r.args[1]}"
        if r.kind == MailboxCall.FREE:
            return f"FREE handle={r.args[0]} sp={r.args[1]:#06x}"
        if r.kind == MailboxCall.DMA:
            try:
                return DmaDescriptor.from_args(r.args).describe()
            except ValueError:
                return f"DMA args={r.args}"
        index = r.args[0]
        ops = self.program.host_ops
        return f"HOST {index}" + (f" {ops[index].target}" if index < len(ops) else "")

    @staticmethod
    def _outcome(r: CallRecord) -> str:
        if r.status != Status.OK:
            return f"{r.status.name}: {r.message}"
        return f"OK {r.value:#06x}" if r.kind == MailboxCall.ALLOC else "OK"
