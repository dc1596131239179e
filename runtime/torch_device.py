"""The `atalla` PyTorch device: PrivateUse1, in Python, for kernel bring-up and allocator checks.

    import runtime.torch_device                     # registers the device
    x = torch.randn(5, 37).to("atalla")             # into the simulated DRAM
    y = torch.relu(x @ w.to("atalla")).cpu()        # two one-op programs on the emulator

Memory: a device tensor lives in a simulated DRAM of the hardware config (`set_config`, default
`small`), placed by the firmware's allocation policy (atalla.allocator: first fit, in units of the
config's `dram_align`, within `dram_bytes`); every allocation is counted (`stats()`), freed when
the last tensor viewing it dies, refused when freed twice, and listed by `leaks()` while alive.
Views (`view`, `t`, slices, `expand`, ...) share their tensor's allocation.

Numbers: the device holds float32 tensors, stored as they are (`t.to("atalla").cpu()` gives back
the same bits). A supported op runs as a one-op program that the compiler builds for exactly that
op, those shapes and those scalars (cached by them), on the emulator: its inputs are rounded to
bf16 as a blob's inputs are, it computes as the Atalla kernels do (docs/numerics.md), and its
result, bf16 values, comes back as float32. So a chain of device ops gives the bits of a compiled
program of the same ops whenever that program also rounds each intermediate to bf16 in DRAM,
which is what the compiler does between ops (`relu(x @ w)` on the device equals `atalla compile`
of it bit for bit).

An op without an Atalla kernel is an `UnsupportedOp` error naming it, or with `set_fallback(True)`
runs on the CPU (in float32, a warning once per op).
"""

from __future__ import annotations

import math
import warnings
import weakref
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.backend_registration import _setup_privateuseone_for_python_backend

from atalla.allocator import OutOfMemory, ScratchpadAllocator
from atalla.config import DEFAULT_CONFIG, HardwareConfig, get_config
from compiler.driver import compile_model
from compiler.errors import CompileError
from compiler.ops import REGISTRY
from compiler.partition import HOST
from runtime.emulator import Emulator

DEVICE = "atalla"
ELEMENT_BYTES = 4  # float32
aten = torch.ops.aten

# The compute ops the device runs on Atalla, as they reach a backend (after PyTorch's own
# decompositions: `linear` arrives as addmm or mm, `softmax` as _softmax, `matmul` as mm or bmm).
COMPUTE_OPS = (
    aten.mm.default, aten.addmm.default, aten.bmm.default,
    aten.add.Tensor, aten.sub.Tensor, aten.mul.Tensor, aten.div.Tensor,
    aten.add.Scalar, aten.sub.Scalar, aten.mul.Scalar, aten.div.Scalar,
    aten.relu.default, aten._softmax.default, aten.exp.default, aten.neg.default, aten.sqrt.default,
    aten.rsqrt.default, aten.tanh.default, aten.sigmoid.default, aten.silu.default, aten.gelu.default,
    aten.sum.dim_IntList, aten.mean.dim,
)
assert all(op in REGISTRY for op in COMPUTE_OPS), "a device op without an Atalla lowering"


class DeviceError(RuntimeError):
    """Misuse of the device: a dtype it does not hold, out of DRAM, a double free."""


class UnsupportedOp(DeviceError):
    pass


# -- memory ------------------------------------------------------------------------------------
@dataclass(eq=False)
class Block:
    """One allocation in the simulated DRAM; the tensors viewing it hold it."""
    offset: int
    nbytes: int
    what: str  # the tensor it was made for, for the leak report
    serial: int
    freed: bool = False


@dataclass
class Memory:
    config: HardwareConfig
    dram: np.ndarray = field(init=False)
    allocator: ScratchpadAllocator = field(init=False)
    live: dict[int, Block] = field(default_factory=dict)  # serial -> block
    allocations: int = 0
    frees: int = 0

    def __post_init__(self) -> None:
        self.dram = np.zeros(self.config.dram_bytes, np.uint8)
        # The firmware's policy, in DRAM's units: first fit, aligned to dram_align, within dram_bytes.
        self.allocator = ScratchpadAllocator(self.config.dram_bytes, self.config.dram_align)

    def alloc(self, nbytes: int, what: str) -> Block:
        try:
            offset = self.allocator.alloc(nbytes, what)
        except OutOfMemory:
            raise DeviceError(f"atalla device out of DRAM: {what} needs {nbytes} bytes; "
                              f"{self.config.dram_bytes - self.allocator.used_bytes} of {self.config.dram_bytes} "
                              f"bytes free (config {self.config.name!r}), largest free run "
                              f"{self.allocator.largest_free_bytes()} bytes") from None
        self.allocations += 1
        block = Block(offset, nbytes, what, self.allocations)
        self.live[block.serial] = block
        return block

    def free(self, block: Block) -> None:
        if block.freed:
            raise DeviceError(f"double free of the atalla DRAM block at {block.offset:#x} ({block.what})")
        self.allocator.free(block.offset, block.what)
        block.freed = True
        del self.live[block.serial]
        self.frees += 1

    def array(self, block: Block) -> np.ndarray:
        """The block's float32 elements, a view into DRAM."""
        return self.dram[block.offset : block.offset + block.nbytes].view(np.float32)


_memory: Memory | None = None
_fallback = False
_warned: set[str] = set()
_programs: dict[tuple, object] = {}  # (op, input shapes, scalars, config) -> compiled Program


def memory() -> Memory:
    global _memory
    if _memory is None:
        _memory = Memory(get_config(DEFAULT_CONFIG))
    return _memory


def set_config(config: str | HardwareConfig) -> None:
    """The hardware config of the device's DRAM and of the programs its ops compile to; only while
    no device tensor is alive."""
    global _memory
    cfg = get_config(config) if isinstance(config, str) else config
    if _memory is not None and _memory.live:
        raise DeviceError(f"set_config({cfg.name!r}): {len(_memory.live)} atalla tensor allocation(s) still alive")
    _memory = Memory(cfg)


def set_fallback(enabled: bool) -> None:
    """True: an op without an Atalla kernel runs on the CPU (warning once per op); False (default):
    it is an UnsupportedOp error."""
    global _fallback
    _fallback = bool(enabled)


def stats() -> dict:
    m = memory()
    return {"config": m.config.name, "allocations": m.allocations, "frees": m.frees,
            "live_allocations": len(m.live), "bytes_live": m.allocator.used_bytes,
            "peak_bytes": m.allocator.peak_bytes, "capacity_bytes": m.config.dram_bytes,
            "programs_compiled": len(_programs)}


def leaks() -> list[str]:
    """The allocations still alive, oldest first: after every device tensor died, none."""
    return [f"{b.what}: {b.nbytes} bytes at {b.offset:#x} (allocation {b.serial})"
            for b in sorted(memory().live.values(), key=lambda b: b.serial)]


def leak_report() -> str:
    found = leaks()
    s = stats()
    head = (f"atalla device: {s['allocations']} allocations, {s['frees']} frees, {s['bytes_live']} bytes live "
            f"(peak {s['peak_bytes']})")
    return head + (": no leak" if not found else f"; {len(found)} alive:\n  " + "\n  ".join(found))


# -- tensors -----------------------------------------------------------------------------------
class AtallaTensor(torch.Tensor):
    """A float32 tensor in the device's DRAM: a block and the strided view of it this tensor is."""

    block: Block | None

    @staticmethod
    def __new__(cls, size, stride=None, storage_offset: int = 0):
        size = tuple(int(d) for d in size)
        stride = tuple(stride) if stride is not None else tuple(torch._prims_common.make_contiguous_strides_for(size))
        t = torch.Tensor._make_wrapper_subclass(cls, size, strides=stride, storage_offset=storage_offset,
                                                dtype=torch.float32, device=DEVICE)
        t.block = None  # _hold gives it one
        return t

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _KERNELS:
            return _KERNELS[func](*args, **kwargs)
        if torch._C._dispatch_has_computed_kernel_for_dispatch_key(func.name(), "PrivateUse1"):
            # PyTorch's own composite of this op (t, transpose, expand, ...): it ends in our kernels,
            # or in an op that has none (sin's composite calls sin.out), which names the op asked for.
            try:
                with torch._C._ExcludeDispatchKeyGuard(torch._C.DispatchKeySet(torch._C.DispatchKey.Python)):
                    return func(*args, **kwargs)
            except NotImplementedError as e:
                if f"from the '{DEVICE}' backend" not in str(e):
                    raise
        return _unsupported(func, args, kwargs)

    def __repr__(self, *, tensor_contents=None):
        return f"{self.cpu()!r}"[:-1] + f", device='{DEVICE}')"


def _hold(t: AtallaTensor, block: Block | None) -> AtallaTensor:
    """t views block: the block is freed when the last tensor viewing it dies."""
    t.block = block
    if block is not None:
        _holders.setdefault(block.serial, [0, block])[0] += 1
        weakref.finalize(t, _release, block.serial)
    return t


_holders: dict[int, list] = {}  # block serial -> [tensors viewing it, block]


def _release(serial: int) -> None:
    entry = _holders[serial]
    entry[0] -= 1
    if entry[0] == 0:
        del _holders[serial]
        if _memory is not None and serial in _memory.live and _memory.live[serial] is entry[1]:
            _memory.free(entry[1])


def _new(size, what: str) -> AtallaTensor:
    size = tuple(int(d) for d in size)
    n = math.prod(size)
    block = memory().alloc(n * ELEMENT_BYTES, f"{what} {list(size)}") if n else None
    return _hold(AtallaTensor(size), block)


def _view_of(t: AtallaTensor, size, stride, storage_offset) -> AtallaTensor:
    return _hold(AtallaTensor(size, stride, storage_offset), t.block)


def _strided(t: AtallaTensor) -> np.ndarray:
    """The tensor's elements as a NumPy view into DRAM (writable)."""
    if t.block is None:
        return np.zeros(t.shape, np.float32)
    flat = memory().array(t.block)
    return np.lib.stride_tricks.as_strided(flat[t.storage_offset():], t.shape,
                                           [s * ELEMENT_BYTES for s in t.stride()])


def values(t: torch.Tensor) -> np.ndarray:
    """A tensor's float32 values as a contiguous NumPy array (device or CPU)."""
    if isinstance(t, AtallaTensor):
        return np.ascontiguousarray(_strided(t))
    return t.detach().to(torch.float32).contiguous().numpy()


def _to_device(value: np.ndarray, what: str) -> AtallaTensor:
    out = _new(value.shape, what)
    if value.size:
        _strided(out)[...] = value
    return out


def _check_float32(dtype, what: str) -> None:
    if dtype not in (None, torch.float32):
        raise DeviceError(f"{what}: the atalla device holds float32 tensors, not {dtype}")


# -- kernels: memory, copies and views ---------------------------------------------------------
def _empty(size, *, dtype=None, layout=None, device=None, pin_memory=None, memory_format=None):
    _check_float32(dtype, "torch.empty")
    return _new(size, "empty")


def _empty_strided(size, stride, *, dtype=None, layout=None, device=None, pin_memory=None):
    _check_float32(dtype, "torch.empty_strided")
    size = tuple(int(d) for d in size)
    span = 1 + sum((d - 1) * s for d, s in zip(size, stride)) if math.prod(size) else 0  # elements the strides reach
    block = memory().alloc(span * ELEMENT_BYTES, f"tensor {list(size)}") if span else None
    return _hold(AtallaTensor(size, stride), block)


def _copy(dst, src, non_blocking=False):
    if isinstance(dst, AtallaTensor):
        _strided(dst)[...] = np.broadcast_to(values(src), dst.shape)
        return dst
    dst.copy_(torch.from_numpy(values(src)))
    return dst


def _to_copy(t, *, dtype=None, layout=None, device=None, pin_memory=None, non_blocking=False, memory_format=None):
    target = torch.device(device) if device is not None else t.device
    if target.type == DEVICE:
        _check_float32(dtype, "to")
        return _to_device(values(t), "copy")
    return torch.from_numpy(values(t)).to(dtype or torch.float32)


def _clone(t, *, memory_format=None):
    return _to_device(values(t), "clone")


def _as_strided(t, size, stride, storage_offset=None):
    offset = t.storage_offset() if storage_offset is None else storage_offset
    return _view_of(t, size, stride, offset)


def _view(t, size):
    # Meta tensors do PyTorch's own viewability check and stride arithmetic.
    meta = torch.empty_strided(t.shape, t.stride(), device="meta").view(size)
    return _view_of(t, meta.shape, meta.stride(), t.storage_offset())


def _alias(t):
    return _view_of(t, t.shape, t.stride(), t.storage_offset())


def _item(t):
    return float(values(t).reshape(()))


_KERNELS = {
    aten.empty.memory_format: _empty, aten.empty_strided.default: _empty_strided,
    aten.copy_.default: _copy, aten._to_copy.default: _to_copy, aten.clone.default: _clone,
    aten.as_strided.default: _as_strided, aten.view.default: _view, aten._unsafe_view.default: _view,
    aten._reshape_alias.default: lambda t, size, stride: _view_of(t, size, stride, t.storage_offset()),
    aten.alias.default: _alias, aten.detach.default: _alias, aten._local_scalar_dense.default: _item,
}


# -- kernels: compute on Atalla ----------------------------------------------------------------
class _OneOp(torch.nn.Module):
    """The op with its non-tensor arguments fixed: what the compiler builds a program for."""

    def __init__(self, op, args: tuple, kwargs: dict, tensor_at: list[int]):
        super().__init__()
        self.op, self.args, self.kwargs, self.tensor_at = op, args, kwargs, tensor_at

    def forward(self, *tensors):
        args = list(self.args)
        for i, t in zip(self.tensor_at, tensors):
            args[i] = t
        return self.op(*args, **self.kwargs)


# The dispatcher's thread-local key sets outside any op: a kernel runs inside one (the Python key
# excluded, ...), where torch.export cannot trace.
_TOP_LEVEL_DISPATCH = (torch._C._dispatch_tls_local_include_set(), torch._C._dispatch_tls_local_exclude_set())


def _scalar_key(a):
    return (type(a).__name__, repr(a))


def _run_on_atalla(op, args, kwargs):
    tensor_at = [i for i, a in enumerate(args) if isinstance(a, torch.Tensor)]
    if any(isinstance(v, torch.Tensor) for v in kwargs.values()):
        return _unsupported(op, args, kwargs, "a tensor keyword argument")
    inputs = [values(args[i]) for i in tensor_at]
    cfg = memory().config
    key = (op, tuple(x.shape for x in inputs),
           tuple(_scalar_key(a) for i, a in enumerate(args) if i not in tensor_at),
           tuple(sorted((k, _scalar_key(v)) for k, v in kwargs.items())), cfg)
    program = _programs.get(key)
    if program is None:
        module = _OneOp(op, tuple(None if i in tensor_at else a for i, a in enumerate(args)), kwargs, tensor_at)
        try:
            with torch._C._ForceDispatchKeyGuard(*_TOP_LEVEL_DISPATCH):  # torch.export traces from the top
                compiled = compile_model(module, tuple(torch.from_numpy(x) for x in inputs), cfg, str(op))
        except CompileError as e:
            return _unsupported(op, args, kwargs, str(e))
        host = [p for p in compiled.placements if p.where == HOST]
        if host:
            return _unsupported(op, args, kwargs, host[0].reason)
        program = _programs[key] = compiled.program
    outputs = Emulator(program).run(inputs)
    return _to_device(outputs[0], str(op).split(".")[0].removeprefix("aten."))


def _in_place(op):
    """`x.relu_()`, `x += y`: the op on Atalla, its result written into x."""

    def kernel(self, *args, **kwargs):
        result = _run_on_atalla(op, (self, *args), kwargs)
        if result.shape != self.shape:
            raise DeviceError(f"{op} in place: the result's shape {list(result.shape)} is not the tensor's "
                              f"{list(self.shape)}")
        return _copy(self, result)

    return kernel


for _op in COMPUTE_OPS:
    _KERNELS[_op] = lambda *args, _op=_op, **kwargs: _run_on_atalla(_op, args, kwargs)
    _packet = getattr(aten, _op._schema.name.split("::")[1] + "_", None)  # the in-place variant, if any
    if _packet is not None and _op._overloadname in _packet.overloads():
        _KERNELS[getattr(_packet, _op._overloadname)] = _in_place(_op)


def _unsupported(op, args, kwargs, why: str = ""):
    reason = why or f"no Atalla kernel for {op}"
    if not _fallback:
        raise UnsupportedOp(f"{op} is not supported on the atalla device ({reason}); "
                            "runtime.torch_device.set_fallback(True) runs such ops on the CPU")
    if str(op) not in _warned:
        _warned.add(str(op))
        warnings.warn(f"atalla device: {op} runs on the CPU in float32 ({reason})", stacklevel=3)
    cpu_args, cpu_kwargs = torch.utils._pytree.tree_map(_on_cpu, (args, kwargs))
    result = op(*cpu_args, **cpu_kwargs)
    for i, arg in enumerate(op._schema.arguments[: len(args)]):  # in-place ops: write their results back
        if arg.alias_info is not None and arg.alias_info.is_write and isinstance(args[i], AtallaTensor):
            _strided(args[i])[...] = values(cpu_args[i])
    if op._schema.returns and op._schema.returns[0].alias_info is not None:
        return args[0]
    return torch.utils._pytree.tree_map(
        lambda r: _to_device(values(r), str(op)) if isinstance(r, torch.Tensor) and r.is_floating_point() else r,
        result)


def _on_cpu(a):
    return torch.from_numpy(values(a)) if isinstance(a, AtallaTensor) else a


def _register() -> None:
    name = torch._C._get_privateuse1_backend_name()
    if name == DEVICE:
        return
    if name != "privateuseone":
        raise DeviceError(f"PrivateUse1 is already the {name!r} backend; the atalla device cannot register")
    _setup_privateuseone_for_python_backend(DEVICE)
    lib = torch.library.Library("aten", "IMPL")
    # Factories have no device tensor to dispatch on: they reach the PrivateUse1 key itself.
    lib.impl("empty.memory_format", _empty, "PrivateUse1")
    lib.impl("empty_strided", _empty_strided, "PrivateUse1")
    for op, kernel in _KERNELS.items():  # and what PyTorch's composites call under our dispatch
        if op not in (aten.empty.memory_format, aten.empty_strided.default):
            lib.impl(op._schema.name.split("::")[1] + (f".{op._overloadname}" if op._overloadname != "default" else ""),
                     kernel, "PrivateUse1")
    _LIBRARIES.append(lib)


_LIBRARIES: list = []  # a Library unregisters its kernels when collected
_register()
