"""ctypes bindings of the C runtime (runtime/c/atalla_runtime.h): load a blob, run it, serve its
firmware calls from Python. The record layouts come from atalla/blob_format.py, the same definition
the C header is generated from."""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from functools import cache

import numpy as np

from atalla.blob_format import CONFIG_FIELDS, TENSOR, Role
from atalla.config import CONFIG_NAME_BYTES, HardwareConfig
from atalla.isa import MAILBOX_MAX_ARGS, Status
from atalla.runtime_abi import LoadError, RunFailure
from firmware import Firmware
from runtime.cmodel.build import library

MESSAGE_BYTES = 1024  # ATALLA_MESSAGE_BYTES

_CTYPES = {"u8": ctypes.c_uint8, "u16": ctypes.c_uint16, "u32": ctypes.c_uint32, "u64": ctypes.c_uint64}


class HwConfig(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char * CONFIG_NAME_BYTES)] + [(f, ctypes.c_uint32) for f in CONFIG_FIELDS]

    @classmethod
    def of(cls, config: HardwareConfig) -> HwConfig:
        return cls(config.name.encode(), *(getattr(config, f) for f in CONFIG_FIELDS))


class BlobTensor(ctypes.Structure):
    _pack_ = 1
    _fields_ = [(name, _CTYPES[base] * count if count else _CTYPES[base]) for name, base, count in TENSOR.layout]


# uint32_t request(void *ctx, uint32_t call, const uint32_t *words, uint32_t *value, char *message, size_t size)
REQUEST = ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_void_p, ctypes.c_uint32, ctypes.POINTER(ctypes.c_uint32),
                           ctypes.POINTER(ctypes.c_uint32), ctypes.c_void_p, ctypes.c_size_t)


class FirmwareTable(ctypes.Structure):
    _fields_ = [("ctx", ctypes.c_void_p), ("request", REQUEST)]


@cache
def lib() -> ctypes.CDLL:
    so = ctypes.CDLL(str(library()))
    p, u32, u64, i64, sz = ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint64, ctypes.c_int64, ctypes.c_size_t
    signatures = {
        "atalla_load": (ctypes.c_int, [ctypes.c_char_p, sz, ctypes.POINTER(HwConfig), ctypes.POINTER(p),
                                       ctypes.c_char_p, sz]),
        "atalla_program_free": (None, [p]),
        "atalla_program_num_tensors": (u32, [p]),
        "atalla_program_tensor": (ctypes.POINTER(BlobTensor), [p, u32]),
        "atalla_machine_new": (p, [p]),
        "atalla_machine_free": (None, [p]),
        "atalla_machine_dram": (ctypes.POINTER(ctypes.c_uint8), [p]),
        "atalla_machine_scratchpad": (ctypes.POINTER(ctypes.c_uint8), [p]),
        "atalla_execute": (ctypes.c_int, [p, ctypes.POINTER(FirmwareTable), p, p]),
        "atalla_machine_message": (ctypes.c_char_p, [p]),
        "atalla_machine_fault_index": (i64, [p]),
        "atalla_machine_fault_status": (u32, [p]),
        "atalla_machine_command_count": (u64, [p, u32, u32]),
        "atalla_dma_transfer": (None, [p, ctypes.POINTER(u32)]),
        "atalla_c_firmware_new": (p, [p, u64, ctypes.POINTER(FirmwareTable)]),
        "atalla_c_firmware_free": (None, [p]),
        "atalla_c_firmware_table": (FirmwareTable, [p]),
        "atalla_c_firmware_peak_bytes": (u64, [p]),
        "atalla_c_firmware_log_size": (u32, [p]),
        "atalla_c_firmware_log_entry": (u32, [p, u32, ctypes.POINTER(u32), ctypes.POINTER(u32), ctypes.POINTER(u32),
                                             ctypes.POINTER(u32), ctypes.POINTER(ctypes.c_char_p)]),
    }
    for name, (restype, argtypes) in signatures.items():
        fn = getattr(so, name)
        fn.restype, fn.argtypes = restype, argtypes
    return so


def load_verdict(blob: bytes, expect: HardwareConfig | None = None) -> tuple[LoadError, str, int | None]:
    """The C loader's verdict: (class, message, program handle or None). The caller frees the handle
    (atalla_program_free)."""
    handle, message = ctypes.c_void_p(), ctypes.create_string_buffer(MESSAGE_BYTES)
    expect_c = ctypes.byref(HwConfig.of(expect)) if expect is not None else None
    code = lib().atalla_load(bytes(blob), len(blob), expect_c, ctypes.byref(handle), message, MESSAGE_BYTES)
    return LoadError(code), message.value.decode(errors="replace"), handle.value


def python_firmware_table(firmware: Firmware):
    """A firmware table whose calls go to the Python firmware's mailbox door, Firmware.request, as the
    cocotb testbench's do. Returns (table, errors): an exception inside a call is answered BAD_CALL and
    kept in errors for the caller to raise after the run."""
    errors: list[BaseException] = []

    def serve(_ctx, call, words, value, message, size):
        try:
            status, out, _cycles = firmware.request(call, words[:MAILBOX_MAX_ARGS])
            value[0] = out
            if status != Status.OK:
                text = (firmware.last_error or "").encode(errors="replace")[: size - 1] + b"\0"
                ctypes.memmove(message, text, len(text))
            return int(status)
        except BaseException as e:  # never unwind through C
            errors.append(e)
            return int(Status.BAD_CALL)

    callback = REQUEST(serve)
    table = FirmwareTable(None, callback)
    table._keep = callback  # the C side holds only a pointer
    return table, errors


class Machine:
    """One C machine for a loaded program: DRAM and scratchpad as NumPy views of C memory."""

    def __init__(self, blob: bytes, config: HardwareConfig):
        code, message, handle = load_verdict(blob, config)
        if code != LoadError.OK:
            raise RuntimeError(f"the C loader refused a blob the Python loader accepts: {code.name}: {message}")
        self._lib = lib()
        self.program = handle
        self.handle = self._lib.atalla_machine_new(handle)
        if not self.handle:
            self._lib.atalla_program_free(handle)
            raise MemoryError("the C model could not allocate its DRAM and scratchpad")
        self.dram = np.ctypeslib.as_array(self._lib.atalla_machine_dram(self.handle), (config.dram_bytes,))
        self.scratchpad = np.ctypeslib.as_array(self._lib.atalla_machine_scratchpad(self.handle), (config.sp_bytes,))

    def tensors(self, role: Role) -> list[BlobTensor]:
        n = self._lib.atalla_program_num_tensors(self.program)
        ts = [self._lib.atalla_program_tensor(self.program, i).contents for i in range(n)]
        return [t for t in ts if t.role == role]

    def execute(self, table: FirmwareTable, inputs: list[np.ndarray], outputs: list[np.ndarray]) -> RunFailure:
        """inputs: C-contiguous arrays of the input tensors' element counts, float32 (int32 for row ids);
        outputs: float32 likewise."""
        ins = (ctypes.c_void_p * max(1, len(inputs)))(*(a.ctypes.data for a in inputs))
        outs = (ctypes.c_void_p * max(1, len(outputs)))(*(a.ctypes.data for a in outputs))
        return RunFailure(self._lib.atalla_execute(self.handle, ctypes.byref(table), ins, outs))

    @property
    def message(self) -> str:
        return self._lib.atalla_machine_message(self.handle).decode(errors="replace")

    @property
    def fault_index(self) -> int:
        return self._lib.atalla_machine_fault_index(self.handle)

    @property
    def fault_status(self) -> Status:
        return Status(self._lib.atalla_machine_fault_status(self.handle))

    def command_count(self, opcode: int, func: int) -> int:
        return self._lib.atalla_machine_command_count(self.handle, opcode, func)

    def dma_transfer(self, args: Sequence[int]) -> None:
        self._lib.atalla_dma_transfer(self.handle, (ctypes.c_uint32 * MAILBOX_MAX_ARGS)(*args))

    def __del__(self):
        lib_ = getattr(self, "_lib", None)
        if lib_ is not None:
            lib_.atalla_machine_free(getattr(self, "handle", None))
            lib_.atalla_program_free(getattr(self, "program", None))


class CFirmware:
    """The C firmware of runtime/c/firmware.c on a machine; HOST calls go to host (a table) or are refused."""

    def __init__(self, machine: Machine, sp_capacity: int, host: FirmwareTable | None):
        self._lib, self.machine, self.host = lib(), machine, host
        self.handle = self._lib.atalla_c_firmware_new(machine.handle, sp_capacity,
                                                      ctypes.byref(host) if host is not None else None)
        if not self.handle:
            raise MemoryError("the C firmware could not allocate its allocator")
        self.table = self._lib.atalla_c_firmware_table(self.handle)

    @property
    def peak_bytes(self) -> int:
        return self._lib.atalla_c_firmware_peak_bytes(self.handle)

    def log(self) -> list[tuple[int, tuple[int, ...], int, int, str]]:
        """(kind, args, status, value, message) of every call, in order."""
        out = []
        args = (ctypes.c_uint32 * MAILBOX_MAX_ARGS)()
        nargs, status, value, message = ctypes.c_uint32(), ctypes.c_uint32(), ctypes.c_uint32(), ctypes.c_char_p()
        for i in range(self._lib.atalla_c_firmware_log_size(self.handle)):
            outs = (ctypes.byref(nargs), ctypes.byref(status), ctypes.byref(value), ctypes.byref(message))
            kind = self._lib.atalla_c_firmware_log_entry(self.handle, i, args, *outs)
            out.append((kind, tuple(args[: nargs.value]), status.value, value.value, message.value.decode()))
        return out

    def __del__(self):
        if getattr(self, "handle", None):
            self._lib.atalla_c_firmware_free(self.handle)
