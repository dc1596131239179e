"""cocotb: many random programs in one simulation of the whole design, each run on the emulator and
the RTL and compared (runtime/verify/batch.py starts it and reads the verdicts).

Between programs the design is reset (the bench's watchdog and cycle count with it), the DRAM the
last program used is zeroed and the next image written, and the firmware starts afresh: one
Verilator build and one simulator start for the whole batch. Programs are regenerated here from
(config, seed, index), so nothing but the settings crosses from the outer process.
"""

from __future__ import annotations

import ctypes
import json
import time
from pathlib import Path

import cocotb
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge

from atalla.isa import Fault, Status
from firmware import Firmware
from runtime import image
from runtime.emulator import Emulator, EmulatorError
from runtime.verify.functional import Sampler, SampledEmulator
from runtime.rtl.recording import Recording
from runtime.rtl.settings import bench_config, bench_settings
from runtime.rtl.signals import c_bytes, simulator
from runtime.rtl.tb_cosim import Driver, FirmwarePort, MailboxAgent, RtlDmaEngine, serve_requests
from runtime.verify.compare import Ending, verdict
from runtime.verify.generator import generate

RESET_CYCLES = 3
MAILBOX_QUEUE_DEPTH = 4  # requests the mailbox holds (rtl/mailbox.sv)


def emulate(gen, sampler: Sampler | None) -> tuple[Ending, Emulator]:
    emu = Emulator(gen.program) if sampler is None else SampledEmulator(gen.program, sampler)
    gen.patch(emu.dram)
    try:
        emu.run([])
        ending = Ending("done", -1, Fault.NONE.name, Status.OK.name)
    except EmulatorError as e:
        if e.fault is None:  # a rule only the emulator checks: the generator must never break one
            raise RuntimeError(f"program {gen.program.metadata['model']}: {e}") from None
        ending = Ending("fault", e.index, e.fault.name, e.status.name, str(e))
    return ending, emu


async def drain_mailbox(dut) -> None:
    """After a fault, let the firmware serve the calls still queued in the mailbox: the emulator made
    every call of the commands before the fault (a DMA's call is posted and may still be queued)."""
    for _ in range(2 * MAILBOX_QUEUE_DEPTH):
        await ClockCycles(dut.clk_i, 2)
        if not int(dut.mb_doorbell_o.value):
            return
        await FallingEdge(dut.mb_doorbell_o)


@cocotb.test()
async def run_programs(dut):
    settings = bench_settings()
    cfg = bench_config()
    seed, start, count, illegal = settings["seed"], settings["start"], settings["count"], settings["illegal"]
    out = Path(settings["verdicts"])
    lib = simulator()
    lib.atalla_dram_init(ctypes.c_uint64(cfg.dram_bytes))
    lib.atalla_dram_base.restype = ctypes.c_void_p
    dram = c_bytes(lib.atalla_dram_base(), cfg.dram_bytes)
    recording = Recording(cfg.dram_bytes)  # the bench's classes record; a batch keeps no recording
    drive = Driver(dut, recording)
    port = FirmwarePort(lib, recording)
    progress = out.with_name("progress.txt")
    verdicts, used = [], 0
    # Functional coverage (the coverage regression's runs): sampled, and written beside the verdicts.
    sampler = Sampler(cfg) if settings.get("sample") else None
    await RisingEdge(dut.rst_ni)
    for index in range(start, start + count):
        started = time.perf_counter()
        gen = generate(cfg, seed, index, illegal)
        program = gen.program
        expected, emu = emulate(gen, sampler)

        if index != start:
            drive("rst_ni", 0)
            await ClockCycles(dut.clk_i, RESET_CYCLES)
            drive("rst_ni", 1)
        dram[:used] = 0
        used = program.dram_bytes_used
        image.write_image(dram, program)
        gen.patch(dram)
        port.recording = drive.recording = Recording(cfg.dram_bytes)
        firmware = Firmware(cfg, program, dram, RtlDmaEngine(port))
        agent = MailboxAgent(port, firmware, progress, len(program.commands), used, -1, -1)
        serving = cocotb.start_soon(serve_requests(dut, port, agent, drive))
        await RisingEdge(dut.clk_i)
        drive("prog_base_i", program.program_dram_offset)
        drive("start_i", 1)
        await RisingEdge(dut.clk_i)
        drive("start_i", 0)
        await RisingEdge(dut.ended_o)
        await drain_mailbox(dut)
        serving.cancel()
        if agent.error is not None:
            raise agent.error
        status = "done" if int(dut.done_o.value) else "fault" if int(dut.fault_o.value) else "watchdog"
        got = Ending(status, int(dut.cmd_index_o.value) if status != "done" else -1,
                     Fault(int(dut.fault_code_o.value)).name, Status(int(dut.fault_status_o.value)).name)
        rtl_calls = [(r.kind, r.args, r.status, r.value) for r in firmware.log]
        emu_calls = [(r.kind, r.args, r.status, r.value) for r in emu.firmware.log]
        if sampler is not None:
            sampler.calls(rtl_calls)
        verdicts.append({
            "index": index, "planted": gen.planted.kind if gen.planted else None,
            "planted_fault": gen.planted.fault.name if gen.planted else None,
            "planted_index": gen.planted.index if gen.planted else None,
            "commands": len(program.commands), "cycles": int(dut.cycles_o.value),
            "emulator": expected._asdict(), "rtl": got._asdict(),
            "problem": verdict(gen, expected, got, emu.dram[:used], dram[:used], emu_calls, rtl_calls),
            "wall_seconds": time.perf_counter() - started})
    out.write_text(json.dumps(verdicts, indent=1))
    if sampler is not None:
        out.with_name("functional.json").write_text(json.dumps(dict(sorted(sampler.hits.items())), indent=1))
