"""cocotb: runs a blob on the RTL with the firmware library served over the mailbox.

Runs inside the simulator and stays lean: the outer process (run_rtl in cosim.py) compiled the
model, ran the emulator and the golden; this module only loads the blob into the DRAM model,
serves the firmware, and writes what happened to the run directory (results.py). The test waits
for two signals only: the end of the run, and the flip of fw_request_toggle with which the bench
hands a request to the firmware port in C memory (rtl/tb/firmware_port.cpp). serve_requests then
takes the request from the port and MailboxAgent.on_request serves it, posting the answer and any
DMA descriptor through ctypes; reading and driving the mailbox's signals through VPI instead cost
tens of microseconds a call, and each signal waited on costs every time slot. (The bench's DPI
call does not call Python itself: on a multithreaded model it may run on a worker thread.)

Everything Python puts into the run (each driven value, each post, the DRAM image, the bytes each
host op writes) is recorded with its simulation time in rtl_recording.bin (format: recording.py)
so that rtl/tb/replay_main.cpp can replay the run without Python (replay.py).
"""

from __future__ import annotations

import ctypes
import importlib
import json
import time
import traceback
from pathlib import Path

import cocotb
import numpy as np
from cocotb.simtime import get_sim_time
from cocotb.triggers import RisingEdge, ValueChange

from atalla.blob_format import Role
from atalla.dma import DmaDescriptor
from atalla.isa import MAILBOX_ARGS, MAILBOX_MAX_ARGS, MailboxCall, call_name
from atalla.tb_formats import TRACE_DTYPE
from firmware import Firmware
from runtime import image
from runtime.loader import load_file
from runtime.rtl.recording import Port, Recording
from runtime.rtl.results import RunFiles, ending
from runtime.rtl.settings import bench_settings
from runtime.rtl.signals import c_bytes, simulator


class Driver:
    """Python's only way to drive the DUT: each value is also recorded with its simulation time.
    A value the signal already holds is skipped, a no-op for the design that costs a VPI call."""

    def __init__(self, dut, recording: Recording):
        self.dut, self.recording = dut, recording
        self.held = {}

    def __call__(self, signal: str, value: int) -> None:
        if self.held.get(signal) == value:
            return
        getattr(self.dut, signal).value = value
        self.held[signal] = value
        self.recording.write(get_sim_time(), signal, value)


class FirmwarePort:
    """The firmware's registers in C memory (rtl/tb/firmware_port.cpp); every post is recorded."""

    def __init__(self, lib, recording: Recording):
        self.lib, self.recording = lib, recording
        self.desc = ctypes.c_uint32 * len(MAILBOX_ARGS[MailboxCall.DMA])
        self.now = 0  # the simulation time of the request being served: posts are stamped with it
        self.call, self.command = ctypes.c_uint32(), ctypes.c_uint32()
        self.args, self.cycle = (ctypes.c_uint32 * MAILBOX_MAX_ARGS)(), ctypes.c_uint64()
        lib.atalla_fw_take_request.argtypes = (ctypes.POINTER(ctypes.c_uint32), ctypes.POINTER(ctypes.c_uint32),
                                               ctypes.POINTER(ctypes.c_uint32), ctypes.POINTER(ctypes.c_uint64))
        lib.atalla_fw_answer.argtypes = (ctypes.c_uint32,) * 3
        lib.atalla_fw_dma.argtypes = (ctypes.POINTER(ctypes.c_uint32),)

    def take_request(self) -> tuple[int, ctypes.Array, int, int] | None:
        """(call kind, argument words, command index, cycle) of the request handed over, or None."""
        if not self.lib.atalla_fw_take_request(self.call, self.args, self.command, self.cycle):
            return None
        return self.call.value, self.args, self.command.value, self.cycle.value

    def answer(self, status: int, value: int, delay: int) -> None:
        self._post(Port.ANSWER, self.lib.atalla_fw_answer(status, value, delay), (status, value, delay))

    def dma(self, desc: tuple[int, ...]) -> None:
        self._post(Port.DMA, self.lib.atalla_fw_dma(self.desc(*desc)), desc)

    def _post(self, port: Port, failed: int, words: tuple[int, ...]) -> None:
        if failed:  # the bench takes each post at the next falling edge, before the next request
            raise RuntimeError(f"firmware port: {port.name} posted at {self.now} ps before the "
                               "testbench took the previous one")
        self.recording.post(self.now, port, words)


class RtlDmaEngine:
    """The firmware's DMA programming: the descriptor goes to the engine's register port."""

    def __init__(self, port: FirmwarePort):
        self.port = port

    def start(self, desc: DmaDescriptor) -> None:
        self.port.dma(desc)


class MailboxAgent:
    """Serves every mailbox call with the firmware library; answers after the call's service latency.

    on_request runs in the callback of the time slot the bench handed the request over in (through
    serve_requests) and touches no signal: everything goes through the port."""

    def __init__(self, port: FirmwarePort, firmware: Firmware, progress: Path, commands: int, dram_extent: int,
                 drop_call: int, raise_call: int):
        self.port, self.firmware = port, firmware
        self.dram_extent = dram_extent  # host ops write only the program's tensors, all below this
        self.pending: int | None = None  # the call being served, until it is answered
        self.error: BaseException | None = None  # what the firmware raised; the run ends at once
        self.progress, self.commands, self.shown = progress, commands, time.perf_counter()
        # Fault injection for tests, by the call's position in the log (-1: none): never answer it, or
        # raise in it as a firmware bug would.
        self.drop_call, self.raise_call = drop_call, raise_call

    def on_request(self, call: int, args, command: int, cycle: int) -> int:
        try:
            self.port.now = get_sim_time()
            self.serve(call, args, command, cycle)
        except BaseException as e:  # noqa: BLE001 -- raised again by the test, once the run has ended
            self.error = e
            return 1
        return 0

    def serve(self, call: int, args, command: int, cycle: int) -> None:
        """args: the request's MAILBOX_MAX_ARGS argument words (a C array)."""
        if time.perf_counter() - self.shown > 1.0:  # the outer process shows this line
            self.shown = time.perf_counter()
            self.progress.write_text(f"simulating: command {command}/{self.commands}, cycle {cycle}")
        self.pending = call
        if len(self.firmware.log) == self.drop_call:
            return  # the answer is lost: the command processor waits and the watchdog must end it
        if len(self.firmware.log) == self.raise_call:
            raise RuntimeError(f"injected firmware failure in call {self.raise_call} ({call_name(call)}) at "
                               f"cycle {cycle}")
        if call == MailboxCall.HOST:
            before = self.firmware.dram[: self.dram_extent].copy()
        status, value, delay = self.firmware.request(call, args[:MAILBOX_MAX_ARGS])
        if call == MailboxCall.HOST:
            self.record_changes(before)
        self.port.answer(int(status), value, delay)
        self.pending = None

    def record_changes(self, before: np.ndarray) -> None:
        """The DRAM bytes a host op wrote, as one span from the first changed byte to the last."""
        changed = np.flatnonzero(self.firmware.dram[: self.dram_extent] != before)
        if len(changed):
            first, last = int(changed[0]), int(changed[-1]) + 1
            self.port.recording.dram(self.port.now, first, self.firmware.dram[first:last].tobytes())


async def serve_requests(dut, port: FirmwarePort, agent: MailboxAgent, drive: Driver) -> None:
    """Serve each request the bench hands to the port, in the time slot it does (runs until cancelled)."""
    while True:
        await ValueChange(dut.fw_request_toggle)
        request = port.take_request()
        if request is not None and agent.on_request(*request):
            drive("fw_failed", 1)  # the firmware raised: the run ends in this time slot


@cocotb.test()
async def run_blob(dut):
    settings = bench_settings()  # from run_rtl (cosim.py)
    files = RunFiles(Path(settings["run_dir"]))
    program = load_file(files.blob)
    cfg = program.config
    lib = simulator()
    lib.atalla_dram_init(ctypes.c_uint64(cfg.dram_bytes))
    lib.atalla_dram_base.restype = ctypes.c_void_p
    dram = c_bytes(lib.atalla_dram_base(), cfg.dram_bytes)
    if settings["segment"]:  # DRAM as the emulator left it at the segment's start, then its commands
        start = np.load(files.start_dram)
        dram[: start.size] = start
        image.write_stream(dram, program)
    else:
        image.write_image(dram, program)
        inputs = np.load(files.inputs)
        for i, tensor in enumerate(program.by_role(Role.INPUT)):
            image.write_tensor(dram, tensor, inputs[f"input{i}"])
    # What the firmware imports on first use is start-up, not simulation: import it before the clock.
    importlib.import_module("numpy.ma")  # np.unique (the DMA store check) imports it: 8 ms
    if program.host_ops:
        torch = importlib.import_module("torch")  # the host ops run on PyTorch: about a second
        # One thread: the ops are small, and waking a pool of workers costs more than they do.
        torch.set_num_threads(1)

    recording = Recording(cfg.dram_bytes)
    nonzero = np.flatnonzero(dram)
    used = int(nonzero[-1]) + 1 if len(nonzero) else 0  # the image's used prefix: the rest is zero
    recording.dram(get_sim_time(), 0, dram[:used].tobytes())
    drive = Driver(dut, recording)
    port = FirmwarePort(lib, recording)
    firmware = Firmware(cfg, program, dram, RtlDmaEngine(port), settings["sp_capacity"])
    firmware.warm_up()  # host ops: checked, and each op's first call in a process set up (a millisecond)
    extent = max((t.dram_offset + t.nbytes for t in program.tensors), default=0)
    agent = MailboxAgent(port, firmware, files.progress, len(program.commands), extent, settings["drop_call"],
                         settings["raise_call"])
    serving = cocotb.start_soon(serve_requests(dut, port, agent, drive))

    await RisingEdge(dut.rst_ni)
    await RisingEdge(dut.clk_i)
    drive("prog_base_i", program.program_dram_offset)
    drive("start_i", 1)
    await RisingEdge(dut.clk_i)
    drive("start_i", 0)
    started = time.perf_counter()
    recording.window_start = get_sim_time()
    await RisingEdge(dut.ended_o)
    wall = time.perf_counter() - started
    recording.end_time = get_sim_time()
    serving.cancel()
    if agent.error is not None:  # a bug in the firmware or this bench, not a program's fault
        files.firmware_error.write_text("".join(traceback.format_exception(agent.error)))
        raise agent.error

    status = "done" if int(dut.done_o.value) else "fault" if int(dut.fault_o.value) else "watchdog"
    result = {**ending(program, status, lambda port: int(getattr(dut, port).value)),
              "firmware_error": firmware.last_error,
              "pending_call": call_name(agent.pending) if agent.pending is not None else None,
              "wall_seconds": wall}
    files.result.write_text(json.dumps(result, indent=1))
    files.firmware_calls.write_text(json.dumps([[int(r.kind), list(r.args), int(r.status), r.value]
                                                for r in firmware.log]))
    files.firmware_log.write_text("\n".join(firmware.log_lines()) + "\n")
    np.savez(files.outputs, **{f"output{i}": image.read_tensor(dram, t)
                               for i, t in enumerate(program.by_role(Role.OUTPUT))})
    np.savez(files.tensors, **{t.name: image.read_tensor(dram, t) for t in program.tensors
                               if t.role == Role.INTERMEDIATE})
    lib.trace_count.restype = ctypes.c_uint64
    lib.trace_data.restype = ctypes.c_void_p
    n = lib.trace_count()
    raw = c_bytes(lib.trace_data(), n * TRACE_DTYPE.itemsize) if n else np.zeros(0, np.uint8)
    np.save(files.trace, raw.view(TRACE_DTYPE).copy())
    recording.save(files.recording)
    if settings["segment"]:
        np.savez(files.dram, image=dram[: start.size], nonzero_beyond=np.flatnonzero(dram[start.size :])[:1] + start.size)
    # How the program ended (done, fault, watchdog) is a result, judged by the outer process.
