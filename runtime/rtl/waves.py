"""A GTKWave save file for a co-simulation dump, with the interesting signals grouped by unit."""

from __future__ import annotations

from pathlib import Path

from atalla.config import HardwareConfig

# (group, [(signal path under the testbench, width in bits, or a config-dependent width by name)])
GROUPS: tuple[tuple[str, tuple[tuple[str, int | str], ...]], ...] = (
    ("Command processor", (("dut.u_cmdproc.state", 3), ("dut.u_cmdproc.cmd_index_o", 32),
                           ("dut.u_cmdproc.opcode_o", 8), ("dut.u_cmdproc.in_flight", "tickets"),
                           ("done_o", 1), ("fault_o", 1))),
    ("GEMM unit", (("dut.u_gemm.push_i", 1), ("dut.u_gemm.busy_o", 1), ("dut.u_gemm.a_valid", 1),
                   ("dut.u_gemm.a_ready", 1), ("dut.u_gemm.w_valid", 1), ("dut.u_gemm.w_ready", 1),
                   ("dut.u_gemm.y_valid", 1), ("dut.u_gemm.retire", 1))),
    ("Vector unit", (("dut.u_vector.start_i", 1), ("dut.u_vector.func_i", 8), ("dut.u_vector.active", 1),
                     ("dut.u_vector.done_o", 1))),
    ("DMA", (("dut.dma_start", 1), ("dut.dma_busy", 1), ("dut.p0_req_valid", 1), ("dut.p0_req_addr", 32),
             ("dut.p0_rvalid", 1), ("dut.sp_dma_we", 1), ("dut.dma_done", 1), ("dut.dma_done_ticket", "ticket_bits"))),
    ("Mailbox", (("mb_doorbell_o", 1), ("mb_call_o", 32), ("fw_ready", 1), ("fw_answer", 1), ("fw_answer_status", 32),
                 ("resp_doorbell", 1), ("fw_dma_start", 1))),
)


def signal_names(config: HardwareConfig) -> list[str]:
    """The full names the save file shows, as the dump spells them (with [msb:lsb] on vectors)."""
    widths = {"tickets": config.num_tickets, "ticket_bits": (config.num_tickets - 1).bit_length()}
    names = []
    for _, signals in GROUPS:
        for name, width in signals:
            width = widths.get(width, width)
            names.append(f"atalla_tb.{name}" + ("" if width == 1 else f"[{width - 1}:0]"))
    return names


def vcd_names(dump: Path) -> set[str]:
    """Every signal a VCD declares, with its scope path and range, as GTKWave names it."""
    scopes, names = [], set()
    with dump.open() as f:
        for line in f:
            words = line.split()
            if not words:
                continue
            if words[0] == "$enddefinitions":
                break
            if words[0] == "$scope":
                scopes.append(words[2])
            elif words[0] == "$upscope":
                scopes.pop()
            elif words[0] == "$var":
                names.add(".".join([*scopes, words[4]]) + (words[5] if words[5] != "$end" else ""))
    return names


def write_gtkw(path: Path, dump: Path, config: HardwareConfig) -> None:
    lines = [f'[dumpfile] "{dump}"', f'[savefile] "{path}"', "[timestart] 0"]
    names = iter(signal_names(config))
    for group, signals in GROUPS:
        lines += ["@200", f"-{group}"]
        for _ in signals:
            name = next(names)
            lines += ["@22" if name.endswith("]") else "@28", name]  # hex for vectors, binary for bits
    path.write_text("\n".join(lines) + "\n")
