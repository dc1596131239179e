"""Whole programs on the RTL: every zoo model bit-exact with the emulator, the same firmware calls,
within tolerance of PyTorch; faults end with clear errors, never a hang."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from atalla.blob_format import Role
from atalla.config import CONFIGS, HardwareConfig, load_config
from atalla.isa import COMMAND_BYTES, Flag, Opcode, VecFunc, command, make_ref
from atalla.program import HostOp, Program, TensorInfo
from cli.main import main
from compiler.driver import compile_model
from compiler.serialize import serialize
from golden.hf import gpt2_tokens
from golden.reference import golden_outputs
from golden.zoo import ZOO
from runtime.check import check
from runtime.emulator import Emulator, EmulatorError
from runtime.rtl.backend import RtlBackend
from runtime.rtl.build import fst_supported, lint
from runtime.rtl.cosim import DESIGN, THREADS_ENV, design, run_rtl, sim_threads
from runtime.rtl.params import verilator_parameters
from runtime.rtl.waves import signal_names, vcd_names
from runtime.verify.fuzz import tiny_program

ROOT = Path(__file__).resolve().parents[1]
# Simulated cycles are deterministic: a change of schedule, firmware latency or RTL timing shows here.
# atalla16 is a config from a file (configs/atalla16.json), as a user's own would be.
CYCLES = {("attention", "small"): 13906, ("host_fallback", "small"): 5726, ("mha", "small"): 27743,
          ("mlp", "small"): 112905, ("mlp", "atalla32"): 15604, ("attention", "atalla16"): 9630,
          ("basic_module", "small"): 9436, ("vit_micro", "small"): 29322, ("alexnet_small", "small"): 189014}


def config_of(name: str) -> HardwareConfig:
    return CONFIGS[name] if name in CONFIGS else load_config(ROOT / "configs" / f"{name}.json")


def compiled(model: str, config: str):
    module, inputs = ZOO[model]()
    return compile_model(module, inputs, CONFIGS[config], model), module, [x.numpy() for x in inputs]


@pytest.mark.parametrize("model,config", sorted(CYCLES))
def test_zoo_model_on_rtl_equals_emulator(model, config, tmp_path):
    module, inputs = ZOO[model]()
    blob = compile_model(module, inputs, config_of(config), model).blob()
    # The emulator itself here (RTL runs are otherwise judged by the C model, its bit-exact twin).
    result = check(blob, [x.numpy() for x in inputs], golden_outputs(module, inputs), RtlBackend(tmp_path),
                   expect_config=config_of(config), reference="emulator")
    assert result.reference == "emulator" and result.bit_exact and result.firmware_calls_equal, result.mismatches
    assert result.passed and result.firmware_calls > 0
    assert result.stats["counters"]["mac_count"] > 0 and result.stats["cycles"] == CYCLES[model, config]


class EveryNewKernel(torch.nn.Module):
    """The reductions, norms and activations the zoo does not use, on rows longer than the lanes."""

    def forward(self, x):
        stats = x.sum(-1, keepdim=True) + x.mean(-1, keepdim=True) - x.var(-1, keepdim=True) * x.var(
            -1, correction=0, keepdim=True)
        y = torch.rsqrt(torch.sqrt(x * x) + 1.0) + torch.sigmoid(x) - torch.nn.functional.silu(-x)
        return torch.nn.functional.gelu(y + stats) + torch.tanh(x) ** 2, torch.nn.functional.layer_norm(x, (19,))


def test_every_new_kernel_on_rtl_equals_emulator(tmp_path):
    torch.manual_seed(3)
    module, inputs = EveryNewKernel(), (2 * torch.randn(3, 5, 19),)
    compiled_model = compile_model(module, inputs, CONFIGS["small"], "every_new_kernel")
    assert not compiled_model.program.host_ops
    result = check(compiled_model.blob(), [x.numpy() for x in inputs], golden_outputs(module, inputs), RtlBackend(tmp_path),
                   expect_config=CONFIGS["small"])
    assert result.bit_exact and result.firmware_calls_equal, result.mismatches
    assert result.passed


def test_hugging_face_gpt2_on_rtl_equals_emulator(tmp_path):
    """A real model: GPT2Model (golden/hf.py, 2 layers, d 64) fed token ids, whole on Atalla, its
    embedding a GATHER DMA."""
    torch.manual_seed(0)
    module, inputs = gpt2_tokens(), (torch.randint(0, 128, (2, 7)),)
    compiled_model = compile_model(module, inputs, CONFIGS["small"], "gpt2")
    assert not compiled_model.program.host_ops
    blob = compiled_model.blob()
    result = check(blob, [x.numpy() for x in inputs], golden_outputs(module, inputs), RtlBackend(tmp_path),
                   expect_config=CONFIGS["small"])
    assert result.bit_exact and result.firmware_calls_equal, result.mismatches
    assert result.passed and result.stats["cycles"] == 149622


def test_the_gpt2_block_on_atalla32_keeps_its_cycles(tmp_path):
    """The GPT-2-small decoder block (d 768, 12 heads, seq 128, causal) on the atalla32 RTL: bit-exact,
    within tolerance, and its deterministic cycle count, at which the array is busy >= 90% of the block."""
    module, inputs = ZOO["gpt2_block"]()
    blob = compile_model(module, inputs, CONFIGS["atalla32"], "gpt2_block").blob()
    result = check(blob, [x.numpy() for x in inputs], golden_outputs(module, inputs), RtlBackend(tmp_path),
                   expect_config=CONFIGS["atalla32"])
    assert result.bit_exact and result.firmware_calls_equal and result.passed, result.mismatches
    assert result.stats["cycles"] == 998262 and result.stats["array_utilization"] >= 0.90


class ConvAndPoolKernels(torch.nn.Module):
    """What alexnet_small does not use: stride, dilation, depthwise, batch norm folded and not,
    average pooling, padding by -inf and by zeros."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(2, 3, 3, stride=2, padding=2, dilation=2, bias=False)
        self.norm = torch.nn.BatchNorm2d(3)
        self.depthwise = torch.nn.Conv2d(3, 3, 3, padding=1, groups=3)
        self.after = torch.nn.BatchNorm2d(3)
        for norm in (self.norm, self.after):
            norm.running_mean.normal_()
            norm.running_var.uniform_(0.5, 2.0)

    def forward(self, x):
        y = self.after(torch.relu(self.depthwise(self.norm(self.conv(x)))))
        return torch.nn.functional.max_pool2d(y, 3, 2, 1) + torch.nn.functional.avg_pool2d(y, 3, 2, 1)


def test_conv_and_pool_kernels_on_rtl_equal_emulator(tmp_path):
    torch.manual_seed(5)
    module, inputs = ConvAndPoolKernels(), (torch.randn(1, 2, 13, 11),)
    compiled_model = compile_model(module, inputs, CONFIGS["small"], "conv_and_pool_kernels")
    assert not compiled_model.program.host_ops
    result = check(compiled_model.blob(), [x.numpy() for x in inputs], golden_outputs(module, inputs),
                   RtlBackend(tmp_path), expect_config=CONFIGS["small"])
    assert result.bit_exact and result.firmware_calls_equal, result.mismatches
    assert result.passed


def stored_program(cfg: HardwareConfig, cmds: list, sizes: dict, data_bits: np.ndarray, out_base: int,
                   out_elems: int, model: str) -> bytes:
    """The blob of a hand-made program whose two stores use tickets 0 and 1: their WAITs, a FREE of
    every handle, END; its data a constant at DRAM 0, its output out_elems bf16 words at out_base."""
    cmds = cmds + [command(Opcode.WAIT, ticket=t) for t in range(2)]
    cmds += [command(Opcode.FREE, handle=h) for h in sizes] + [command(Opcode.END)]
    program_at = -(-(out_base + 2 * out_elems) // cfg.dram_align) * cfg.dram_align
    tensors = [TensorInfo("data", Role.CONSTANT, (data_bits.size,), 0, const_offset=0),
               TensorInfo("out", Role.OUTPUT, (out_elems,), out_base)]
    return serialize(Program(cfg, tensors, data_bits.tobytes(), cmds, [], program_at,
                             program_at + len(cmds) * COMMAND_BYTES, {"model": model}))


def gemms_then_vec(cfg: HardwareConfig, vec_reads_d: bool) -> bytes:
    """Three GEMMs of 64 rows queued, then a 64-row VEC that reads either a tile of its own (apart
    from every queued row) or the last GEMM's D (which it must wait for); everything stored."""
    rows, gemms, lanes, row_bytes = 64, 3, cfg.lanes, cfg.sp_row_bytes
    d_rows = 2 * rows  # fp32
    data = np.random.default_rng(7).uniform(-2, 2, (2 * rows + cfg.array_rows) * lanes).astype(np.float32)
    data_bits = (data.view(np.uint32) >> 16).astype("<u2")  # bf16 words (truncated: any bits will do)
    a_h, b_h, d_h, x_h, y_h = range(5)
    sizes = {a_h: rows, b_h: cfg.array_rows, d_h: gemms * d_rows, x_h: rows, y_h: rows}
    align = lambda n: -(-n // cfg.dram_align) * cfg.dram_align
    out_base = align(data_bits.nbytes)
    out_elems = (rows + gemms * d_rows) * lanes
    cmds = [command(Opcode.ALLOC, handle=h, bytes=n * row_bytes) for h, n in sizes.items()]
    for ticket, (h, first_row) in enumerate(((a_h, 0), (b_h, rows), (x_h, rows + cfg.array_rows))):
        cmds.append(command(Opcode.DMA_LOAD, sp=make_ref(h, 0), dram_addr=2 * first_row * lanes, rows=sizes[h],
                            cols=lanes, row_stride=lanes, col_stride=1, ticket=ticket))
    cmds += [command(Opcode.WAIT, ticket=t) for t in range(3)]
    for g in range(gemms):
        cmds.append(command(Opcode.GEMM, func=1, a=make_ref(a_h, 0), b=make_ref(b_h, 0), c=0, d=make_ref(d_h, g * d_rows),
                            m=rows, k=cfg.array_rows, n=cfg.array_cols))
    a_ref, a_flags = (make_ref(d_h, (gemms - 1) * d_rows), Flag.A_FP32) if vec_reads_d else (make_ref(x_h, 0), 0)
    cmds.append(command(Opcode.VEC, func=VecFunc.ADD, flags=a_flags, dst=make_ref(y_h, 0), a=a_ref, b=make_ref(x_h, 0),
                        rows=rows, cols=lanes))
    cmds.append(command(Opcode.DMA_STORE, sp=make_ref(y_h, 0), dram_addr=out_base, rows=rows, cols=lanes,
                        row_stride=lanes, col_stride=1, ticket=0))
    cmds.append(command(Opcode.DMA_STORE, sp=make_ref(d_h, 0), dram_addr=out_base + 2 * rows * lanes,
                        rows=gemms * d_rows, cols=lanes, row_stride=lanes, col_stride=1, ticket=1))
    return stored_program(cfg, cmds, sizes, data_bits, out_base, out_elems, "gemms_then_vec")


# A VEC beside queued GEMMs (docs/isa.md, "Ordering"): cycles of the whole program on small. Apart
# from the GEMMs' rows, the VEC's 66 cycles hide behind them but for the cycles its reads meet the
# GEMM unit's in a bank (docs/rtl.md, "Scratchpad"); reading the last D, it waits for it.
VEC_BESIDE_GEMMS_CYCLES = {False: 2674, True: 2874}


@pytest.mark.parametrize("vec_reads_d", [False, True], ids=["apart", "reads_queued_d"])
def test_vec_runs_beside_queued_gemms_unless_it_reads_their_rows(vec_reads_d, tmp_path):
    cfg = CONFIGS["small"]
    result = check(gemms_then_vec(cfg, vec_reads_d), [], None, RtlBackend(tmp_path), expect_config=cfg)
    assert result.bit_exact and result.firmware_calls_equal, result.mismatches
    assert result.stats["cycles"] == VEC_BESIDE_GEMMS_CYCLES[vec_reads_d]
    assert VEC_BESIDE_GEMMS_CYCLES[True] - VEC_BESIDE_GEMMS_CYCLES[False] >= result.stats["counters"]["vec_cycles"]


def gemm_beside_vec_on_one_bank(cfg: HardwareConfig, vec_in_phase: bool) -> bytes:
    """A GEMM whose A rows all sit in bank 0 (row step = the bank count), and beside it a VEC ADD
    whose a and b rows are either in one bank (b = a + banks rows: with the GEMM's A read that is
    three reads for a bank of two ports whenever the VEC reaches bank 0) or in neighbouring banks
    (b = a + 1: never more than two). Everything is stored."""
    rows, banks, lanes, row_bytes = 64, cfg.sp_banks, cfg.lanes, cfg.sp_row_bytes
    a_h, b_h, d_h, x_h, y_h = range(5)
    sizes = {a_h: rows * banks, b_h: cfg.array_rows, d_h: rows, x_h: rows + banks, y_h: rows}
    data_rows = sizes[a_h] + sizes[b_h] + sizes[x_h]
    data = np.random.default_rng(11).uniform(-2, 2, data_rows * lanes).astype(np.float32)
    data_bits = (data.view(np.uint32) >> 16).astype("<u2")  # bf16 words (truncated: any bits will do)
    align = lambda n: -(-n // cfg.dram_align) * cfg.dram_align
    out_base = align(data_bits.nbytes)
    out_elems = 2 * rows * lanes
    cmds = [command(Opcode.ALLOC, handle=h, bytes=n * row_bytes) for h, n in sizes.items()]
    for ticket, (h, first_row) in enumerate(((a_h, 0), (b_h, sizes[a_h]), (x_h, sizes[a_h] + sizes[b_h]))):
        cmds.append(command(Opcode.DMA_LOAD, sp=make_ref(h, 0), dram_addr=2 * first_row * lanes, rows=sizes[h],
                            cols=lanes, row_stride=lanes, col_stride=1, ticket=ticket))
    cmds += [command(Opcode.WAIT, ticket=t) for t in range(3)]
    cmds.append(command(Opcode.GEMM, func=banks, flags=Flag.D_BF16, a=make_ref(a_h, 0), b=make_ref(b_h, 0), c=0,
                        d=make_ref(d_h, 0), m=rows, k=cfg.array_rows, n=cfg.array_cols))
    cmds.append(command(Opcode.VEC, func=VecFunc.ADD, dst=make_ref(y_h, 0), a=make_ref(x_h, 0),
                        b=make_ref(x_h, banks if vec_in_phase else 1), rows=rows, cols=lanes))
    for ticket, h in enumerate((y_h, d_h)):
        cmds.append(command(Opcode.DMA_STORE, sp=make_ref(h, 0), dram_addr=out_base + 2 * ticket * rows * lanes,
                            rows=rows, cols=lanes, row_stride=lanes, col_stride=1, ticket=ticket))
    return stored_program(cfg, cmds, sizes, data_bits, out_base, out_elems, "gemm_beside_vec_on_one_bank")


# (vector unit's bank-stall cycles, cycles) on small. In phase, the VEC reaches bank 0 and waits
# there while the GEMM's A stream holds one of its two ports; the program is longer by just that.
VEC_ON_GEMM_BANK = {True: (61, 2684), False: (0, 2623)}


@pytest.mark.parametrize("vec_in_phase", [True, False], ids=["same_bank", "neighbour_banks"])
def test_a_bank_conflict_stalls_the_vector_unit_and_changes_no_bits(vec_in_phase, tmp_path):
    cfg = CONFIGS["small"]
    result = check(gemm_beside_vec_on_one_bank(cfg, vec_in_phase), [], None, RtlBackend(tmp_path), expect_config=cfg)
    assert result.bit_exact and result.firmware_calls_equal, result.mismatches
    c = result.stats["counters"]
    assert (c["vec_bank_stall_cycles"], result.stats["cycles"]) == VEC_ON_GEMM_BANK[vec_in_phase]
    assert c["gemm_bank_stall_cycles"] == 0  # the GEMM unit comes first


def test_too_little_scratchpad_is_a_clear_fault(tmp_path):
    program_c, _, inputs = compiled("host_fallback", "small")
    capacity = 2 * CONFIGS["small"].sp_page_bytes
    with pytest.raises(EmulatorError) as emulated:
        Emulator(program_c.program, sp_capacity=capacity).run(inputs)
    rtl = run_rtl(program_c.blob(), inputs, CONFIGS["small"], tmp_path, sp_capacity=capacity)
    assert rtl.status == "fault"
    problem = rtl.problem()
    assert "firmware call failed with OUT_OF_MEMORY: scratchpad out of memory" in problem
    assert str(emulated.value).startswith(problem.split(":")[0])  # the same command index and kind


def test_a_lost_firmware_answer_ends_with_the_watchdog(tmp_path):
    program_c, _, inputs = compiled("host_fallback", "small")
    rtl = run_rtl(program_c.blob(), inputs, CONFIGS["small"], tmp_path, drop_call=3)
    assert rtl.status == "watchdog"
    assert rtl.problem().startswith("watchdog: no command finished for")
    assert "mailbox call" in rtl.problem() and f"command {rtl.command_index} (" in rtl.problem()


def test_a_firmware_exception_ends_the_run_and_is_named(tmp_path):
    program_c, _, inputs = compiled("host_fallback", "small")
    with pytest.raises(RuntimeError, match=r"^the firmware raised during the simulation: RuntimeError: injected "
                                           r"firmware failure in call 3 \(DMA\) at cycle \d+ \(traceback in .*\)$"):
        run_rtl(program_c.blob(), inputs, CONFIGS["small"], tmp_path, raise_call=3)
    assert "Traceback" in (tmp_path / "rtl_firmware_error.txt").read_text()
    assert not (tmp_path / "rtl_result.json").exists()


def _tiny_with(*, commands: dict[int, object] | None = None, insert: dict[int, object] | None = None, host_op=None):
    """fuzz.tiny_program (every command kind, a host op at command 10) with commands replaced or inserted."""
    program = tiny_program()
    cmds = list(program.commands)
    for at, cmd in (commands or {}).items():
        cmds[at] = cmd
    for at, cmd in sorted((insert or {}).items(), reverse=True):
        cmds.insert(at, cmd)
    return tiny_program(commands=cmds, host_ops=[host_op] if host_op else program.host_ops)


SMALL = CONFIGS["small"]
# The fault-injection table's rows a program can cause (docs/verification.md): what the emulator says,
# the RTL must say, at the same command, with the same fault code and firmware message.
INJECTED = {
    "double_free": (_tiny_with(insert={13: command(Opcode.FREE, handle=0)}), 13, "UNBOUND_HANDLE", None),
    "dma_out_of_bounds": (_tiny_with(commands={2: command(Opcode.DMA_LOAD, sp=make_ref(0),
                                                         dram_addr=SMALL.dram_bytes - 16, rows=2, cols=8, row_stride=8,
                                                         col_stride=1, ticket=0)}),
                          2, "FIRMWARE", "DMA_OUT_OF_BOUNDS"),
    "host_op_raises": (_tiny_with(host_op=HostOp("aten.gelu.default", [{"tensor": 2}, "tanh", "tanh"], {}, [3])), 10,
                       "FIRMWARE", "HOST_FAILED"),
}


@pytest.mark.parametrize("name", sorted(INJECTED))
def test_an_injected_fault_stops_the_rtl_where_and_as_the_emulator_does(name, tmp_path):
    program, index, fault, status = INJECTED[name]
    inputs = [np.linspace(-1, 1, 16, dtype=np.float32).reshape(2, 8)]
    with pytest.raises(EmulatorError) as emulated:
        Emulator(program).run(inputs)
    assert (emulated.value.index, emulated.value.fault.name) == (index, fault)
    assert emulated.value.status.name == (status or "OK")
    rtl = run_rtl(serialize(program), inputs, SMALL, tmp_path)
    assert (rtl.status, rtl.command_index, rtl.fault) == ("fault", index, fault)
    if status is None:
        assert rtl.problem() == f"command {index} (FREE): the command processor faulted: {fault}"
    else:
        # The emulator's words: "command I (KIND): firmware KIND call failed with STATUS: <the firmware's message>".
        assert rtl.fault_status == status and str(emulated.value).endswith(f"{status}: {rtl.firmware_error}")
        assert rtl.problem().startswith(str(emulated.value).split(":")[0] + ": firmware call failed with " + status)


def test_user_model_with_trace_and_waves(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "odd.py").write_text(textwrap.dedent("""
        import torch
        def build():
            torch.manual_seed(1)
            net = torch.nn.Sequential(torch.nn.Linear(37, 53), torch.nn.ReLU(), torch.nn.Linear(53, 11))
            return net, (torch.randn(5, 37),)
    """))
    assert main(["run", "odd.py:build", "--backend", "rtl", "--trace", "--waves", "--json", "r.json"]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "RTL equals cmodel bit for bit: yes" in out and "cycles/s" in out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["passed"] and report["backend"] == "rtl" and report["reference"] == "cmodel" and report["cycles"] > 0
    assert report["firmware_calls_equal"] and report["layer_cycles"]
    run_dir = tmp_path / "out" / "odd_build-small"
    perfetto = json.loads((run_dir / "trace.json").read_text())
    timeline = perfetto["traceEvents"]
    stalls = {unit: report["counters"][f"{unit}_bank_stall_cycles"] for unit in ("gemm", "vec", "dma")}
    assert perfetto["otherData"]["scratchpad bank stall cycles"] == stalls
    assert (f"scratchpad bank conflicts (cycles a unit waited for a bank port): GEMM {stalls['gemm']}, "
            f"vector {stalls['vec']}, DMA {stalls['dma']}") in out
    tracks = {e["args"]["name"] for e in timeline if e["ph"] == "M" and e["name"] == "thread_name"}
    assert {"command processor", "systolic array", "vector unit", "mailbox"} <= tracks
    assert any(e.get("name") == "GEMM" for e in timeline)
    assert "DMA load" in (run_dir / "mailbox.log").read_text()
    # Every signal of the GTKWave save file is in the dump, under the name the file gives it.
    missing = set(signal_names(CONFIGS["small"])) - vcd_names(run_dir / "sim" / "dump.vcd")
    assert not missing
    assert str(run_dir / "sim" / "dump.vcd") in (run_dir / "waves.gtkw").read_text()


@pytest.mark.skipif(not fst_supported(), reason="FST needs liblz4-dev (lz4.h), not installed here")
def test_fst_waves(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "host_fallback", "--backend", "rtl", "--waves", "fst"]) == 0
    dump = tmp_path / "out" / "host_fallback-small" / "sim" / "dump.fst"
    assert dump.stat().st_size > 0 and dump.read_bytes()[:1] != b"$"  # binary FST, not VCD text


@pytest.mark.parametrize("config", ["small", "atalla32"])
def test_whole_design_is_lint_clean(config):
    result = lint(DESIGN, top="atalla_top", parameters=verilator_parameters(CONFIGS[config], "atalla_top"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_saved_blob_gives_the_same_bytes_on_every_backend(tmp_path, monkeypatch, capsys):
    """What the deployment runtime promises: `atalla compile --save-io` then `atalla run m.atb` on the
    emulator, the C model and the RTL, each passing against the golden, the outputs byte for byte."""
    monkeypatch.chdir(tmp_path)
    assert main(["compile", "mlp", "-o", "m.atb", "--save-io"]) == 0
    outputs = {}
    for backend in ("emulator", "cmodel", "rtl"):
        assert main(["run", "m.atb", "--inputs", "m.inputs.npz", "--golden", "m.golden.npz", "--backend", backend,
                     "--outputs", f"{backend}.npz", "--json", f"{backend}.json"]) == 0
        assert json.loads((tmp_path / f"{backend}.json").read_text())["passed"]
        with np.load(tmp_path / f"{backend}.npz") as f:
            outputs[backend] = {k: f[k].tobytes() for k in f.files}
    assert outputs["emulator"] == outputs["cmodel"] == outputs["rtl"] and outputs["rtl"]
    assert "RTL equals cmodel bit for bit: yes" in capsys.readouterr().out


def test_the_design_s_thread_count_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv(THREADS_ENV, raising=False)
    assert sim_threads() == 1 and "--threads" not in design(CONFIGS["atalla32"]).extra_args
    monkeypatch.setenv(THREADS_ENV, "2")
    assert design(CONFIGS["small"]).extra_args[:2] == ("--threads", "2")
    monkeypatch.setenv(THREADS_ENV, "two")
    with pytest.raises(ValueError, match=r"^ATALLA_SIM_THREADS='two': give a thread count of 1 or more$"):
        sim_threads()
