"""A compiled program in memory: what the serializer writes and the loader returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod

from atalla.blob_format import DTYPE_BYTES, NO_CONSTANT, DType, Role
from atalla.config import HardwareConfig
from atalla.isa import COMMAND_BYTES, Command


@dataclass(frozen=True)
class TensorInfo:
    name: str
    role: Role
    shape: tuple[int, ...]
    dram_offset: int
    dtype: DType = DType.BF16
    const_offset: int = NO_CONSTANT  # into Program.constants
    index_bound: int = 0  # INT32 row ids: each lies in [0, index_bound), the rows of the table they index

    @property
    def strides(self) -> tuple[int, ...]:
        """Tensors in DRAM are always contiguous (views live only inside the compiler)."""
        out, acc = [], 1
        for d in reversed(self.shape):
            out.append(acc)
            acc *= d
        return tuple(reversed(out))

    @property
    def numel(self) -> int:
        return prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.numel * DTYPE_BYTES[self.dtype]


@dataclass(frozen=True)
class HostOp:
    target: str  # ATen overload, e.g. "aten.gelu.default"
    args: list  # JSON-able; a tensor is {"tensor": id}
    kwargs: dict
    outputs: list[int]  # tensor ids the results are written to


@dataclass
class Program:
    config: HardwareConfig
    tensors: list[TensorInfo]
    constants: bytes
    commands: list[Command]
    host_ops: list[HostOp]
    program_dram_offset: int
    dram_bytes_used: int
    metadata: dict = field(default_factory=dict)

    def tensor_id(self, name: str) -> int:
        for i, t in enumerate(self.tensors):
            if t.name == name:
                return i
        raise KeyError(f"no tensor named {name!r} in the program")

    def by_role(self, role: Role) -> list[TensorInfo]:
        return [t for t in self.tensors if t.role == role]

    def stream_span(self) -> tuple[int, int]:
        """The DRAM bytes [start, end) the command stream is placed in."""
        return self.program_dram_offset, self.program_dram_offset + len(self.commands) * COMMAND_BYTES
