"""Firmware services: allocator, DMA validation, host fallback, mailbox dispatch and call log."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from atalla.allocator import AllocatorError, BadFree, OutOfMemory, ScratchpadAllocator
from atalla.blob_format import Role
from atalla.config import get_config
from atalla.dma import DmaDescriptor
from atalla.host_ops import HOST_OPS
from atalla.isa import DmaDirection, MailboxCall, Status
from atalla.numerics import bf16_bits_to_f32, f32_to_bf16_bits
from atalla.program import HostOp, Program, TensorInfo
from firmware import CallRecord, DmaError, Firmware, HostOpError, host_ops, run_host_op, validate
from firmware.dma import distinct_elements
from firmware.host_ops import check_results
from runtime.emulator.dma import ImmediateDmaEngine

CFG = get_config("small")  # lanes 8, sp_row_bytes 16, pages of 256 bytes, 16 tickets
PAGE = CFG.sp_page_bytes


# ---- allocator ---------------------------------------------------------------------------------


def test_alloc_rounds_to_pages_and_aligns():
    a = ScratchpadAllocator(4 * PAGE, PAGE)
    assert a.alloc(1, "handle 0") == 0
    assert a.alloc(PAGE + 1, "handle 1") == PAGE
    assert a.alloc(PAGE, "handle 2") == 3 * PAGE
    assert a.live() == {0: (PAGE, "handle 0"), PAGE: (2 * PAGE, "handle 1"), 3 * PAGE: (PAGE, "handle 2")}
    assert a.used_bytes == 4 * PAGE
    assert all(addr % PAGE == 0 for addr in a.live())


def test_first_fit_reuses_freed_space():
    a = ScratchpadAllocator(8 * PAGE, PAGE)
    x, y, z = (a.alloc(2 * PAGE, f"handle {i}") for i in range(3))
    a.free(y, "handle 1")
    assert a.alloc(PAGE, "handle 3") == y  # first hole that fits
    assert a.alloc(PAGE, "handle 4") == y + PAGE
    assert a.alloc(PAGE, "handle 5") == z + 2 * PAGE  # the hole is full now
    a.free(x, "handle 0")
    assert a.alloc(2 * PAGE, "handle 6") == x


def test_out_of_memory_message():
    a = ScratchpadAllocator(16 * PAGE, PAGE)
    held = [a.alloc(PAGE, f"handle {i}") for i in range(16)]
    for addr in held[::2] + [held[1]]:
        a.free(addr, f"handle {addr // PAGE}")
    # Free pages: 0..2 (a run of 3), then every other page: 9 free pages, largest run 3.
    with pytest.raises(OutOfMemory) as e:
        a.alloc(4 * PAGE, "handle 3")
    assert str(e.value) == ("scratchpad out of memory: handle 3 asked 1024 bytes; "
                            "2304 of 4096 bytes free, largest free run 768 bytes")
    assert a.alloc(3 * PAGE, "handle 3") == 0


def test_bad_free_and_zero_alloc():
    a = ScratchpadAllocator(4 * PAGE, PAGE)
    addr = a.alloc(PAGE, "handle 2")
    with pytest.raises(BadFree, match="belongs to handle 2"):
        a.free(addr, "handle 1")
    a.free(addr, "handle 2")
    with pytest.raises(BadFree) as e:
        a.free(addr, "handle 2")
    assert str(e.value) == "free of 0x0 by handle 2: not an allocated buffer (double free?)"
    with pytest.raises(BadFree, match="free of 0x80 by handle 2"):
        a.free(0x80, "handle 2")
    with pytest.raises(AllocatorError, match="handle 4: asked 0 bytes"):
        a.alloc(0, "handle 4")


def test_peak_bytes():
    a = ScratchpadAllocator(8 * PAGE, PAGE)
    x = a.alloc(3 * PAGE, "a")
    y = a.alloc(PAGE, "b")
    a.free(x, "a")
    a.alloc(PAGE, "c")
    assert (a.used_bytes, a.peak_bytes) == (2 * PAGE, 4 * PAGE)
    a.free(y, "b")
    assert a.peak_bytes == 4 * PAGE


def test_many_calls_are_fast_enough():
    a = ScratchpadAllocator(CFG.sp_bytes, PAGE)
    rng = np.random.default_rng(0)
    held: list[int] = []
    for i in range(5000):
        if held and (rng.random() < 0.5 or a.used_bytes > CFG.sp_bytes // 2):
            a.free(held.pop(int(rng.integers(len(held)))), "x")
        else:
            held.append(a.alloc(int(rng.integers(1, 4 * PAGE)), "x"))
    assert a.used_bytes == sum(size for size, _ in a.live().values())


class AllocatorMachine(RuleBasedStateMachine):
    """Random alloc/free against a brute-force first-fit model."""

    PAGES = 32

    def __init__(self) -> None:
        super().__init__()
        self.alloc = ScratchpadAllocator(self.PAGES * PAGE, PAGE)
        self.model = [False] * self.PAGES  # page in use
        self.held: dict[int, tuple[int, str]] = {}
        self.n = 0

    def _model_first_fit(self, pages: int) -> int | None:
        for start in range(self.PAGES - pages + 1):
            if not any(self.model[start : start + pages]):
                return start
        return None

    @rule(nbytes=st.integers(1, 10 * PAGE))
    def do_alloc(self, nbytes: int) -> None:
        pages, owner = -(-nbytes // PAGE), f"handle {self.n}"
        self.n += 1
        expect = self._model_first_fit(pages)
        if expect is None:
            with pytest.raises(OutOfMemory, match=owner):
                self.alloc.alloc(nbytes, owner)
            return
        addr = self.alloc.alloc(nbytes, owner)
        assert addr == expect * PAGE
        self.model[expect : expect + pages] = [True] * pages
        self.held[addr] = (pages * PAGE, owner)

    @precondition(lambda self: self.held)
    @rule(data=st.data())
    def do_free(self, data: st.DataObject) -> None:
        addr = data.draw(st.sampled_from(sorted(self.held)))
        size, owner = self.held.pop(addr)
        self.alloc.free(addr, owner)
        self.model[addr // PAGE : (addr + size) // PAGE] = [False] * (size // PAGE)

    @rule(addr=st.integers(0, 40 * PAGE))
    def bad_free(self, addr: int) -> None:
        if addr not in self.held:
            with pytest.raises(BadFree):
                self.alloc.free(addr, "stranger")

    @invariant()
    def consistent(self) -> None:
        live = self.alloc.live()
        assert live == dict(sorted(self.held.items()))
        spans = sorted((a, a + s) for a, (s, _) in live.items())
        assert all(end <= nxt for (_, end), (nxt, _) in zip(spans, spans[1:])), "live buffers overlap"
        assert all(a % PAGE == 0 for a in live)
        assert self.alloc.used_bytes == sum(s for s, _ in live.values()) == sum(self.model) * PAGE
        assert self.alloc.peak_bytes >= self.alloc.used_bytes


TestAllocatorMachine = AllocatorMachine.TestCase
TestAllocatorMachine.settings = settings(max_examples=100, stateful_step_count=60, deadline=None)


# ---- DMA ---------------------------------------------------------------------------------------


def dma(direction=DmaDirection.LOAD, sp_addr=0, dram_addr=0x100, rows=4, cols=8, row_stride=8, col_stride=1,
        ticket=0) -> DmaDescriptor:
    return DmaDescriptor(direction, sp_addr, dram_addr, rows, cols, row_stride, col_stride, ticket)


LIVE = {0: (PAGE, "handle 0"), PAGE: (PAGE, "handle 1")}  # 16 rows each
IDS = 0x8000  # where the gather tests' row ids are
STREAM = (0x20000, 0x20400)  # the program's commands, which no store may write
IDS_DRAM = np.zeros(CFG.dram_bytes, dtype=np.uint8)
IDS_DRAM[IDS : IDS + 16] = np.array([3, 0, 7, 1], dtype="<i4").view(np.uint8)
IDS_DRAM[IDS + 16 : IDS + 20] = np.array([-1], dtype="<i4").view(np.uint8)
IDS_DRAM[IDS + 20 : IDS + 24] = np.array([CFG.dram_bytes // 32], dtype="<i4").view(np.uint8)


def gather(ids_at=IDS, rows=4, dram_addr=0x100, row_stride=8, cols=8) -> DmaDescriptor:
    return dma(DmaDirection.GATHER, dram_addr=dram_addr, rows=rows, cols=cols, row_stride=row_stride, col_stride=ids_at)


def test_from_args_follows_mailbox_order():
    d = DmaDescriptor.from_args((1, 0x40, 0x1000, 3, 5, 784, 2, 7))
    assert d == DmaDescriptor(DmaDirection.STORE, 0x40, 0x1000, 3, 5, 784, 2, 7)
    assert d.describe() == "DMA store sp=0x0040 dram=0x00001000 rows=3 cols=5 stride=(784,2) ticket=7"
    with pytest.raises(ValueError, match="direction 3"):
        DmaDescriptor.from_args((3, 0, 0, 1, 1, 1, 1, 0))
    g = DmaDescriptor.from_args((2, 0x40, 0x1000, 3, 5, 784, 0x8000, 7))
    assert g.index_addr == 0x8000
    assert g.describe() == "DMA gather sp=0x0040 dram=0x00001000 rows=3 cols=5 ids=0x00008000 row_stride=784 ticket=7"
    with pytest.raises(ValueError, match="takes 8 arguments"):
        DmaDescriptor.from_args((0, 0, 0))


def test_valid_descriptors_pass():
    validate(dma(), CFG, LIVE, IDS_DRAM, STREAM)
    validate(dma(sp_addr=PAGE, rows=16), CFG, LIVE, IDS_DRAM, STREAM)  # exactly fills handle 1's buffer
    last = CFG.dram_bytes - 2
    validate(dma(dram_addr=last, rows=1, cols=1), CFG, LIVE, IDS_DRAM, STREAM)  # the very last element
    validate(dma(dram_addr=0, rows=16, row_stride=0, col_stride=0), CFG, LIVE, IDS_DRAM, STREAM)  # broadcast load
    validate(dma(ticket=CFG.num_tickets - 1), CFG, LIVE, IDS_DRAM, STREAM)
    validate(gather(), CFG, LIVE, IDS_DRAM, STREAM)
    validate(gather(ids_at=IDS + 20, rows=1, dram_addr=CFG.dram_bytes // 2 - 16, row_stride=8, cols=8),
             CFG, LIVE, IDS_DRAM, STREAM)  # the id names the very last row of DRAM


@pytest.mark.parametrize("desc, why", [
    (dma(rows=0), "empty block"),
    (dma(cols=0), "empty block"),
    (dma(cols=9), "cols 9 > lanes 8"),
    (dma(dram_addr=0x101), "dram_addr 0x101 is odd"),
    (dma(dram_addr=CFG.dram_bytes - 2, rows=1, cols=2), "outside DRAM"),
    (dma(dram_addr=0, rows=2, row_stride=CFG.dram_bytes // 2), "outside DRAM"),
    (dma(sp_addr=2 * PAGE), "not inside any live buffer"),
    (dma(sp_addr=PAGE - 16, rows=2), "overruns the buffer of handle 0"),  # straddles two buffers
    (dma(sp_addr=PAGE, rows=17), "overruns the buffer of handle 1"),
    (dma(sp_addr=8), "not a multiple of sp_row_bytes"),
    (dma(ticket=CFG.num_tickets), "ticket 16 >= num_tickets 16"),
    (dma(DmaDirection.STORE, row_stride=4), "more than once"),
    (dma(DmaDirection.STORE, col_stride=0), "more than once"),
    (dma(DmaDirection.STORE, dram_addr=STREAM[1] - 2, rows=1, cols=1),
     f"DRAM span [{STREAM[1] - 2:#x}, {STREAM[1] - 1:#x}] overlaps the command stream [{STREAM[0]:#x}, {STREAM[1]:#x})"),
    (dma(DmaDirection.STORE, dram_addr=STREAM[0] - 14, rows=1, cols=8),
     f"overlaps the command stream [{STREAM[0]:#x}, {STREAM[1]:#x})"),
    (gather(ids_at=IDS + 2), "row ids at 0x8002 are not 4-byte aligned"),
    (gather(ids_at=CFG.dram_bytes - 8), "are outside DRAM"),
    (gather(rows=5), "row id -1 (row 4) reads"),
    (gather(ids_at=IDS + 20, rows=1, dram_addr=CFG.dram_bytes // 2 - 14), "row id 524288 (row 0) reads"),
])
def test_invalid_descriptors_are_refused(desc: DmaDescriptor, why: str):
    with pytest.raises(DmaError) as e:
        validate(desc, CFG, LIVE, IDS_DRAM, STREAM)
    assert why in str(e.value)
    assert str(e.value).startswith(desc.describe() + ": ")  # names every descriptor field
    assert "\n" not in str(e.value)


def test_immediate_engine_load_and_store():
    dram = np.zeros(CFG.dram_bytes, dtype=np.uint8)
    sp = np.full(CFG.sp_bytes, 0xAB, dtype=np.uint8)
    eng = ImmediateDmaEngine(CFG, dram, sp)
    src = np.arange(12, dtype="<u2").reshape(3, 4)  # row-major 3x4 at 0x200
    dram[0x200 : 0x200 + src.nbytes] = src.view(np.uint8).ravel()
    eng.start(dma(sp_addr=0x20, dram_addr=0x200, rows=4, cols=3, row_stride=1, col_stride=4))  # transpose
    rows = sp.view("<u2").reshape(-1, CFG.lanes)
    assert (rows[2:6, :3] == src.T).all() and (rows[2:6, 3:] == 0).all()  # rest of each row zeroed
    assert (rows[6] == 0xABAB).all()
    eng.start(dma(DmaDirection.STORE, sp_addr=0x20, dram_addr=0x400, rows=4, cols=3, row_stride=3))
    assert (dram[0x400 : 0x400 + 24].view("<u2").reshape(4, 3) == src.T).all()
    dram[IDS : IDS + 16] = IDS_DRAM[IDS : IDS + 16]  # ids 3, 0, 7, 1 of a table of rows 4 elements apart
    table = np.arange(32, dtype="<u2").reshape(8, 4)
    dram[0x600 : 0x600 + table.nbytes] = table.view(np.uint8).ravel()
    eng.start(gather(ids_at=IDS, rows=4, dram_addr=0x600, row_stride=4, cols=3))
    assert (rows[:4, :3] == table[[3, 0, 7, 1], :3]).all() and (rows[:4, 3:] == 0).all()


# ---- host ops ----------------------------------------------------------------------------------


def bf16_input(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return f32_to_bf16_bits(np.random.default_rng(seed).standard_normal(shape).astype(np.float32) * 3)


def make_program(tensors: list[tuple[str, tuple[int, ...]]], host_ops: list[HostOp]) -> Program:
    infos, offset = [], 0x1000
    for name, shape in tensors:
        info = TensorInfo(name, Role.INTERMEDIATE, shape, offset)
        infos.append(info)
        offset += -(-info.nbytes // CFG.dram_align) * CFG.dram_align
    return Program(CFG, infos, b"", [], host_ops, program_dram_offset=0, dram_bytes_used=offset)


def put(dram: np.ndarray, info: TensorInfo, bits: np.ndarray) -> None:
    dram[info.dram_offset : info.dram_offset + info.nbytes] = bits.astype("<u2").view(np.uint8).ravel()


def get(dram: np.ndarray, info: TensorInfo) -> np.ndarray:
    return dram[info.dram_offset : info.dram_offset + info.nbytes].view("<u2").reshape(info.shape)


def expected_bits(result: torch.Tensor) -> np.ndarray:
    return f32_to_bf16_bits(result.to(torch.float32).numpy())


@pytest.fixture
def dram() -> np.ndarray:
    return np.zeros(CFG.dram_bytes, dtype=np.uint8)


@pytest.mark.parametrize("kwargs", [{}, {"approximate": "tanh"}])
def test_gelu_bit_exact(dram: np.ndarray, kwargs: dict):
    prog = make_program([("x", (5, 7)), ("y", (5, 7))],
                        [HostOp("aten.gelu.default", [{"tensor": 0}], kwargs, [1])])
    x = bf16_input((5, 7))
    put(dram, prog.tensors[0], x)
    run_host_op(prog.host_ops[0], prog, dram)
    want = expected_bits(torch.ops.aten.gelu.default(torch.from_numpy(bf16_bits_to_f32(x)), **kwargs))
    assert np.array_equal(get(dram, prog.tensors[1]), want)
    assert np.array_equal(get(dram, prog.tensors[0]), x)  # input untouched


def test_nested_list_args_and_tuple_results(dram: np.ndarray):
    prog = make_program(
        [("a", (2, 3)), ("b", (4, 3)), ("cat", (6, 3)), ("vals", (6,)), ("idx", (6,))],
        [HostOp("aten.cat.default", [[{"tensor": 0}, {"tensor": 1}], 0], {}, [2]),
         HostOp("aten.max.dim", [{"tensor": 2}, 1], {"keepdim": False}, [3, 4])])
    a, b = bf16_input((2, 3), 1), bf16_input((4, 3), 2)
    put(dram, prog.tensors[0], a)
    put(dram, prog.tensors[1], b)
    for op in prog.host_ops:
        run_host_op(op, prog, dram)
    cat = np.concatenate([a, b])
    assert np.array_equal(get(dram, prog.tensors[2]), cat)  # bf16 -> fp32 -> bf16 is exact
    vals, idx = torch.from_numpy(bf16_bits_to_f32(cat)).max(dim=1)
    assert np.array_equal(get(dram, prog.tensors[3]), expected_bits(vals))
    assert np.array_equal(get(dram, prog.tensors[4]), expected_bits(idx))  # indices stored as bf16


@pytest.mark.parametrize("op, why", [
    (HostOp("aten.no_such_op.default", [{"tensor": 0}], {}, [1]), "not an op the host may run"),
    (HostOp("aten.gelu.nope", [{"tensor": 0}], {}, [1]), "not an op the host may run"),
    (HostOp("prims.add.default", [{"tensor": 0}], {}, [1]), "not an op the host may run"),
    (HostOp("aten.from_file.default", ["/etc/passwd"], {}, [1]), "not an op the host may run"),
    (HostOp("aten.cat.default", [[{"tensor": 0}, {"file": "/etc/passwd"}]], {}, [1]), "argument 0[1] is a dict"),
    (HostOp("aten.sum.default", [{"tensor": 0}], {}, [1]), "has shape (), expected (2, 3)"),
    (HostOp("aten.gelu.default", [{"tensor": 0}], {}, [1, 1]), "returned 1 results, the program expects 2"),
    (HostOp("aten.gelu.default", [{"tensor": 9}], {}, [1]), "tensor id 9"),
    (HostOp("aten.gelu.default", [{"tensor": 0}], {"approximate": "bogus"}, [1]),
     "argument approximate is the string 'bogus'; the op's string arguments are only: none, tanh"),
    (HostOp("aten.gelu.default", [{"tensor": 0}, "tanh", "tanh"], {}, [1]), "failed: RuntimeError"),
])
def test_host_op_errors(dram: np.ndarray, op: HostOp, why: str):
    prog = make_program([("x", (2, 3)), ("y", (2, 3))], [op])
    put(dram, prog.tensors[0], bf16_input((2, 3)))
    before = dram.copy()
    with pytest.raises(HostOpError) as e:
        run_host_op(op, prog, dram)
    assert why in str(e.value) and op.target in str(e.value) and "\n" not in str(e.value)
    assert np.array_equal(dram, before)  # a failing op writes nothing

    fw = Firmware(CFG, prog, dram, RecordingEngine())
    assert fw.call(MailboxCall.HOST, (0,)) == (Status.HOST_FAILED, 0)
    assert fw.last_error.startswith("HOST 0: ") and why in fw.last_error


def test_every_allow_listed_host_op_is_an_aten_overload():
    missing = [t for t in HOST_OPS if not hasattr(getattr(torch.ops.aten, t.split(".")[1], None) or (), t.split(".")[2])]
    assert not missing


def test_a_result_larger_than_its_tensor_is_refused_before_it_is_computed(dram: np.ndarray):
    # 10^10 elements: computing it would exhaust the host's memory; the meta device only counts them.
    op = HostOp("aten.repeat.default", [{"tensor": 0}, [50_000, 100_000]], {}, [1])
    prog = make_program([("x", (2, 3)), ("y", (2, 3))], [op])
    with pytest.raises(HostOpError, match=r"has shape \(100000, 300000\), expected \(2, 3\)"):
        check_results(op, prog)
    before = dram.copy()
    fw = Firmware(CFG, prog, dram, RecordingEngine())
    assert fw.call(MailboxCall.HOST, (0,)) == (Status.HOST_FAILED, 0)
    assert "has shape (100000, 300000)" in fw.last_error and np.array_equal(dram, before)


def test_warm_up_checks_and_runs_each_op_once_on_zeros_and_leaves_failures_to_the_real_call(dram, monkeypatch):
    prog = make_program([("x", (2, 3)), ("y", (2, 3))],
                        [HostOp("aten.gelu.default", [{"tensor": 0}, "tanh", "tanh"], {}, [1]),
                         HostOp("aten.neg.default", [{"tensor": 0}], {}, [1])])
    calls = []
    resolve = host_ops._resolve
    monkeypatch.setattr(host_ops, "_resolve", lambda target: lambda *a, **k: (calls.append((target, a)),
                                                                             resolve(target)(*a, **k))[1])
    fw = Firmware(CFG, prog, dram, RecordingEngine())
    fw.warm_up()  # the first op fails on any input: warming up says nothing
    tensors = [(t, [x for x in a if isinstance(x, torch.Tensor)]) for t, a in calls]
    ran = [(t, [x.device.type for x in a], [float(x.abs().max()) for x in a if x.device.type == "cpu"])
           for t, a in tensors]
    assert ran == [("aten.gelu.default", ["meta"], []), ("aten.neg.default", ["meta"], []),
                   ("aten.neg.default", ["cpu"], [0.0])]
    calls.clear()
    assert fw.call(MailboxCall.HOST, (1,)) == (Status.OK, 0)
    assert [x.device.type for _, a in calls for x in a] == ["cpu"]  # checked once, at boot
    assert fw.call(MailboxCall.HOST, (0,)) == (Status.HOST_FAILED, 0)
    assert "failed: RuntimeError" in fw.last_error


def test_importing_firmware_does_not_import_torch():
    code = ("import sys, numpy as np, firmware; from atalla.config import get_config;"
            "from atalla.isa import MailboxCall; c = get_config('small');"
            "from atalla.program import Program;"
            "fw = firmware.Firmware(c, Program(c, [], b'', [], [], 0, 0), np.zeros(c.dram_bytes, np.uint8), None);"
            "fw.call(MailboxCall.ALLOC, (0, 64)); assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---- Firmware.call -----------------------------------------------------------------------------


class RecordingEngine:
    def __init__(self) -> None:
        self.started: list[DmaDescriptor] = []

    def start(self, desc: DmaDescriptor) -> None:
        self.started.append(desc)


def gelu_program() -> Program:
    return make_program([("x", (4, 8)), ("y", (4, 8))], [HostOp("aten.gelu.default", [{"tensor": 0}], {}, [1])])


def run_session(fw: Firmware) -> None:
    x = fw.call(MailboxCall.ALLOC, (3, 4 * CFG.sp_row_bytes))
    fw.call(MailboxCall.DMA, (0, x[1], 0x1000, 4, 8, 8, 1, 2))
    fw.call(MailboxCall.DMA, (1, x[1], 0x1040, 4, 8, 8, 1, 3))
    fw.call(MailboxCall.HOST, (0,))
    fw.call(MailboxCall.FREE, (3, x[1]))
    fw.call(MailboxCall.FREE, (3, x[1]))  # double free


def test_call_log_statuses_and_report(dram: np.ndarray):
    eng = RecordingEngine()
    fw = Firmware(CFG, gelu_program(), dram, eng)
    assert fw.call(MailboxCall.ALLOC, (1, 100)) == (Status.OK, 0)
    assert fw.call(MailboxCall.ALLOC, (3, 300)) == (Status.OK, PAGE)
    assert fw.call(MailboxCall.DMA, (0, PAGE, 0x12340, 8, 8, 784, 1, 3)) == (Status.OK, 0)
    assert fw.call(MailboxCall.HOST, (0,)) == (Status.OK, 0)
    assert fw.last_error is None
    assert fw.call(MailboxCall.DMA, (1, 0, 0x1000, 17, 8, 8, 1, 0)) == (Status.DMA_OUT_OF_BOUNDS, 0)
    assert "overruns the buffer of handle 1" in fw.last_error
    assert fw.call(MailboxCall.FREE, (1, 0)) == (Status.OK, 0)
    assert fw.call(MailboxCall.FREE, (1, 0)) == (Status.BAD_FREE, 0)
    assert fw.last_error == "free of 0x0 by handle 1: not an allocated buffer (double free?)"

    assert eng.started == [DmaDescriptor(DmaDirection.LOAD, PAGE, 0x12340, 8, 8, 784, 1, 3)]  # only the valid one
    assert fw.log[0] == CallRecord(MailboxCall.ALLOC, (1, 100), Status.OK, 0, "")
    assert fw.log_lines()[:4] == [
        "#0 ALLOC handle=1 bytes=100 -> OK 0x0000",
        "#1 ALLOC handle=3 bytes=300 -> OK 0x0100",
        "#2 DMA load sp=0x0100 dram=0x00012340 rows=8 cols=8 stride=(784,1) ticket=3 -> OK",
        "#3 HOST 0 aten.gelu.default -> OK",
    ]
    assert fw.log_lines()[4].startswith("#4 DMA store sp=0x0000 dram=0x00001000 rows=17 ")
    assert fw.log_lines()[4].endswith("-> DMA_OUT_OF_BOUNDS: " + fw.log[4].message)
    assert fw.log_lines()[6] == "#6 FREE handle=1 sp=0x0000 -> BAD_FREE: " + fw.last_error
    assert fw.calls_by_kind() == {"ALLOC": 2, "DMA": 2, "HOST": 1, "FREE": 2}
    assert fw.sp_peak_bytes == 3 * PAGE


@pytest.mark.parametrize("kind, args, why", [
    (9, (1,), "unknown mailbox call kind 9"),
    (MailboxCall.ALLOC, (1,), "ALLOC takes 2 arguments"),
    (MailboxCall.ALLOC, (1, 0), "asked 0 bytes"),
    (MailboxCall.ALLOC, (1, -4), "32-bit words"),
    (MailboxCall.ALLOC, (CFG.num_handles, 64), "num_handles"),
    (MailboxCall.FREE, (1, 0, 0), "FREE takes 2 arguments"),
    (MailboxCall.DMA, (5, 0, 0, 1, 1, 1, 1, 0), "direction 5"),
    (MailboxCall.HOST, (1,), "the program has 1 host ops"),
    (MailboxCall.HOST, (), "HOST takes 1 arguments"),
])
def test_bad_calls(dram: np.ndarray, kind, args, why: str):
    fw = Firmware(CFG, gelu_program(), dram, RecordingEngine())
    assert fw.call(kind, args) == (Status.BAD_CALL, 0)
    assert why in fw.last_error
    assert fw.log[-1].status == Status.BAD_CALL and fw.log[-1].message == fw.last_error
    assert len(fw.log_lines()) == 1


def test_a_mailbox_request_takes_its_calls_words_and_answers_after_its_latency(dram: np.ndarray):
    fw = Firmware(CFG, gelu_program(), dram, RecordingEngine())
    words = (3, 2 * PAGE, 0xDEAD, 0xBEEF, 0, 0, 0, 0)  # MAILBOX_MAX_ARGS words; ALLOC reads two
    assert fw.request(MailboxCall.ALLOC, words) == (Status.OK, 0, CFG.fw_alloc_cycles)
    assert fw.log[-1].args == (3, 2 * PAGE)
    assert fw.request(MailboxCall.FREE, (3, 0, 7, 7, 7, 7, 7, 7)) == (Status.OK, 0, CFG.fw_free_cycles)
    # An unknown call is refused, in the time of the quickest call, with every word in the log.
    quickest = min(CFG.fw_alloc_cycles, CFG.fw_free_cycles, CFG.fw_dma_cycles, CFG.fw_host_cycles)
    assert fw.request(9, words) == (Status.BAD_CALL, 0, quickest)
    assert fw.log[-1].args == words and fw.last_error == "unknown mailbox call kind 9"


def test_small_sp_capacity_gives_out_of_memory(dram: np.ndarray):
    fw = Firmware(CFG, gelu_program(), dram, RecordingEngine(), sp_capacity=2 * PAGE)
    assert fw.call(MailboxCall.ALLOC, (0, 2 * PAGE)) == (Status.OK, 0)
    assert fw.call(MailboxCall.ALLOC, (1, 16)) == (Status.OUT_OF_MEMORY, 0)
    assert fw.last_error == ("scratchpad out of memory: handle 1 asked 16 bytes; "
                             "0 of 512 bytes free, largest free run 0 bytes")


def test_host_call_runs_the_op(dram: np.ndarray):
    prog = gelu_program()
    x = bf16_input((4, 8), 5)
    put(dram, prog.tensors[0], x)
    fw = Firmware(CFG, prog, dram, RecordingEngine())
    assert fw.call(MailboxCall.HOST, (0,)) == (Status.OK, 0)
    want = expected_bits(torch.nn.functional.gelu(torch.from_numpy(bf16_bits_to_f32(x))))
    assert np.array_equal(get(dram, prog.tensors[1]), want)


def test_two_firmwares_agree_on_the_call_sequence():
    def key(fw: Firmware) -> list:
        return [(r.kind, r.args, r.status, r.value) for r in fw.log]

    fws = []
    for _ in range(2):
        dram = np.zeros(CFG.dram_bytes, dtype=np.uint8)
        fw = Firmware(CFG, gelu_program(), dram, ImmediateDmaEngine(CFG, dram, np.zeros(CFG.sp_bytes, np.uint8)))
        run_session(fw)
        fws.append(fw)
    assert key(fws[0]) == key(fws[1])
    assert [r.status for r in fws[0].log] == [Status.OK] * 5 + [Status.BAD_FREE]


@settings(max_examples=200, deadline=None)
@given(st.tuples(*[st.integers(0, 1 << 32)] * 8))
def test_random_dma_calls_never_raise(args: tuple[int, ...]):
    fw = Firmware(CFG, gelu_program(), DRAM, RecordingEngine())
    fw.call(MailboxCall.ALLOC, (0, PAGE))
    status, _ = fw.call(MailboxCall.DMA, args)
    assert status in (Status.OK, Status.BAD_CALL, Status.DMA_OUT_OF_BOUNDS)
    assert (status == Status.OK) == bool(fw.log[-1].message == "")


DRAM = np.zeros(CFG.dram_bytes, dtype=np.uint8)  # shared by the hypothesis test; nothing writes it


@settings(max_examples=300, deadline=None, derandomize=True)
@given(rows=st.integers(1, 6), cols=st.integers(1, 6), row_stride=st.integers(-12, 12), col_stride=st.integers(-12, 12))
def test_store_overlap_check_is_exact(rows, cols, row_stride, col_stride):
    """The arithmetic shortcut agrees with counting the block's DRAM elements."""
    desc = DmaDescriptor(DmaDirection.STORE, 0, 4096, rows, cols, row_stride, col_stride, 0)
    elems = desc.dram_elements()
    assert distinct_elements(desc) == (np.unique(elems).size == elems.size)
