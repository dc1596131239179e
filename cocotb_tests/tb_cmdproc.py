"""cocotb: the command processor and mailbox run compiled programs with the firmware library
answering over the mailbox; control flow must match the emulator's exactly."""

from __future__ import annotations

import ctypes

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, First, ReadOnly, RisingEdge

from atalla.blob_format import Role
from atalla.dma import DmaDescriptor
from atalla.isa import COMMAND_BYTES, MAILBOX_MAX_ARGS, Fault, Opcode, Status
from firmware import Firmware
from runtime import image
from runtime.emulator import Emulator, EmulatorError
from runtime.loader import load_file
from runtime.rtl.settings import bench_config, bench_settings
from runtime.rtl.signals import c_bytes, simulator, words
from runtime.verify.generator import PLANT_KINDS, generate

FW_LATENCY = 5  # cycles the firmware takes to answer here


class TicketEngine:
    """Stands in for the DMA engine: remembers which tickets to complete."""

    def __init__(self):
        self.started: list[int] = []

    def start(self, desc: DmaDescriptor) -> None:
        self.started.append(desc.ticket)


def program_memory(program) -> np.ndarray:
    lib = simulator()
    lib.ctb_init.restype = ctypes.c_void_p
    return c_bytes(lib.ctb_init(program.dram_bytes_used), program.dram_bytes_used)


async def serve_firmware(dut, firmware: Firmware, engine: TicketEngine) -> None:
    """The mailbox responder: wakes on the doorbell only. Requests queue, so the next one may already
    be ringing when this one is done."""
    while True:
        await ReadOnly()
        if not int(dut.doorbell_o.value):
            await RisingEdge(dut.doorbell_o)
        status, value, _ = firmware.request(int(dut.req_call_o.value), words(int(dut.req_args_o.value),
                                                                            MAILBOX_MAX_ARGS))
        await ClockCycles(dut.clk_i, FW_LATENCY)  # not the config's latency: this bench checks behaviour
        dut.resp_status_i.value, dut.resp_value_i.value = int(status), value
        dut.resp_doorbell_i.value = 1
        await RisingEdge(dut.clk_i)
        dut.resp_doorbell_i.value = 0
        for ticket in engine.started:  # the transfer "completes" right after the answer
            dut.dma_done_ticket_i.value, dut.dma_done_i.value = ticket, 1
            await RisingEdge(dut.clk_i)
            dut.dma_done_i.value = 0
        engine.started.clear()


async def run_program(dut, program, sp_capacity=None, patch=None):
    memory = program_memory(program)
    image.write_image(memory, program)
    if patch is not None:  # (command index, its first words): a command the loader would refuse
        index, first_words = patch
        at = program.program_dram_offset + index * COMMAND_BYTES
        raw = np.asarray(first_words, "<u4").view(np.uint8)
        memory[at : at + raw.size] = raw
    engine = TicketEngine()
    firmware = Firmware(program.config, program, np.zeros(program.config.dram_bytes, np.uint8), engine, sp_capacity)
    cocotb.start_soon(serve_firmware(dut, firmware, engine))
    dut.rst_ni.value = 0
    await ClockCycles(dut.clk_i, 3)
    dut.rst_ni.value = 1
    await RisingEdge(dut.clk_i)
    dut.prog_base_i.value = program.program_dram_offset
    dut.start_i.value = 1
    await RisingEdge(dut.clk_i)
    dut.start_i.value = 0
    cycles = 50 * len(program.commands) + 10_000  # watchdog: far more than this program needs
    await First(RisingEdge(dut.done_o), RisingEdge(dut.fault_o), ClockCycles(dut.clk_i, cycles))
    return firmware


def emulate(program, sp_capacity=None) -> tuple[Emulator, str | None]:
    emu = Emulator(program, sp_capacity=sp_capacity)
    try:
        emu.run([np.zeros(t.shape, np.float32) for t in program.by_role(Role.INPUT)])
        return emu, None
    except EmulatorError as e:
        return emu, str(e)


def calls(firmware: Firmware) -> list[tuple]:
    return [(r.kind, r.args, r.status, r.value) for r in firmware.log]


@cocotb.test()
async def runs_like_the_emulator(dut):
    program = load_file(bench_settings()["blob"])
    firmware = await run_program(dut, program)
    assert dut.done_o.value == 1, f"not done: fault={int(dut.fault_o.value)} at command {int(dut.cmd_index_o.value)}"
    emu, error = emulate(program)
    assert error is None
    assert calls(firmware) == calls(emu.firmware), "firmware call sequences differ"
    counts = list(words(int(dut.op_count_o.value), len(Opcode)))
    expected = [sum(c.op == op for c in program.commands) for op in Opcode]
    assert counts == expected
    dut._log.info("cmdproc: %d commands, %d firmware calls equal to the emulator's, %d cycles",
                  len(program.commands), len(firmware.log), int(dut.cycles_o.value))


@cocotb.test()
async def firmware_fault_halts_at_the_emulators_command(dut):
    program = load_file(bench_settings()["blob"])
    capacity = program.config.sp_page_bytes * 2
    firmware = await run_program(dut, program, sp_capacity=capacity)
    emu, error = emulate(program, sp_capacity=capacity)
    assert dut.fault_o.value == 1
    assert Fault(int(dut.fault_code_o.value)) == Fault.FIRMWARE
    assert Status(int(dut.fault_status_o.value)) == Status.OUT_OF_MEMORY
    index = int(dut.cmd_index_o.value)
    assert error is not None and error.startswith(f"command {index} (ALLOC)"), (index, error)
    assert calls(firmware) == calls(emu.firmware), "firmware call sequences differ up to the fault"


@cocotb.test()
async def unknown_opcode_faults(dut):
    program = load_file(bench_settings()["blob"])
    await run_program(dut, program, patch=(3, [0x7F]))
    assert dut.fault_o.value == 1 and Fault(int(dut.fault_code_o.value)) == Fault.BAD_OPCODE
    assert int(dut.cmd_index_o.value) == 3


# One directed test per fault code a command can earn: a random program (runtime/verify) with one
# bad command planted where it breaks exactly that rule, bypassing the loader. The command processor
# must stop there with the code the emulator gives, after the same firmware calls.
PLANT_SEED = 13  # any seed: program i plants PLANT_KINDS[i % len(PLANT_KINDS)]


def _planted_fault_test(position: int, kind: Fault):
    async def test(dut):
        gen = generate(bench_config(), PLANT_SEED, position, illegal=True)
        planted = gen.planted
        firmware = await run_program(dut, gen.program, patch=(planted.index, planted.words))
        # Let the firmware serve what is still queued: the emulator made every call before the fault.
        await ClockCycles(dut.clk_i, 20 * FW_LATENCY)
        emu = Emulator(gen.program)
        gen.patch(emu.dram)
        try:
            emu.run([])
            raise AssertionError(f"the emulator ran {planted.kind} without a fault")
        except EmulatorError as e:
            error = e
        assert (error.fault, error.index) == (kind, planted.index), str(error)
        assert dut.fault_o.value == 1, f"{planted.kind}: the command processor did not fault (done={dut.done_o.value})"
        got = (Fault(int(dut.fault_code_o.value)), int(dut.cmd_index_o.value))
        assert got == (kind, planted.index), f"{planted.kind}: RTL {got}, emulator {error}"
        if kind == Fault.FIRMWARE:
            assert Status(int(dut.fault_status_o.value)) == error.status
        rtl_calls = calls(firmware)
        if kind == Fault.FIRMWARE:  # a refused DMA is posted: later commands may have called too
            rtl_calls = rtl_calls[: len(emu.firmware.log)]
        assert rtl_calls == calls(emu.firmware), "firmware call sequences differ up to the fault"
        dut._log.info("%s at command %d: %s on both", planted.kind, planted.index, kind.name)

    test.__name__ = test.__qualname__ = f"planted_{kind.name.lower()}"
    return cocotb.test()(test)


for _position, _kind in enumerate(PLANT_KINDS):
    globals()[f"planted_{_kind.name.lower()}"] = _planted_fault_test(_position, _kind)
