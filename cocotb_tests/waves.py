"""A GTKWave save file for a co-simulation dump, with the interesting signals grouped by unit."""

from __future__ import annotations

from pathlib import Path

from atalla.config import HardwareConfig

# (group, [(signal path under the testbench, width in bits, or a config-dependent width by name)])
GROUPS: tuple[tuple[str, tuple[tuple[str, int | str], ...]], ...] = (
    ("Command processor", (("dut.u_cmdproc.state", 3), ("dut.u_cmdproc.cmd_index_o", 32),
                           ("dut.u_cmdproc.opcode_o", 8), ("dut.u_cmdproc.in_flight", "tickets"),
                           ("done_o", 1), ("fault_o", 1))),
    ("Systolic array", (("dut.u_gemm.start_i", 1), ("dut.u_gemm.a_valid", 1), ("dut.u_gemm.a_ready", 1),
                        ("dut.u_gemm.w_valid", 1), ("dut.u_gemm.w_ready", 1), ("dut.u_gemm.y_valid", 1),
                        ("dut.u_gemm.done_o", 1))),
    ("Vector unit", (("dut.u_vector.start_i", 1), ("dut.u_vector.func_i", 8), ("dut.u_vector.active", 1),
                     ("dut.u_vector.done_o", 1))),
    ("DMA", (("dut.dma_start", 1), ("dut.dma_busy", 1), ("dut.p0_req_valid", 1), ("dut.p0_req_addr", 32),
             ("dut.p0_rvalid", 1), ("dut.sp_dma_we", 1), ("dut.dma_done", 1), ("dut.dma_done_ticket", "ticket_bits"))),
    ("Mailbox", (("mb_doorbell_o", 1), ("mb_call_o", 32), ("resp_doorbell", 1), ("fw_resp_status_i", 32))),
)


def write_gtkw(path: Path, dump: Path, config: HardwareConfig) -> None:
    widths = {"tickets": config.num_tickets, "ticket_bits": (config.num_tickets - 1).bit_length()}
    lines = [f'[dumpfile] "{dump}"', f'[savefile] "{path}"', "[timestart] 0"]
    for group, signals in GROUPS:
        lines += ["@200", f"-{group}"]
        for name, width in signals:
            width = widths.get(width, width)
            if width == 1:
                lines += ["@28", f"TOP.atalla_tb.{name}"]
            else:
                lines += ["@22", f"TOP.atalla_tb.{name}[{width - 1}:0]"]
    path.write_text("\n".join(lines) + "\n")
