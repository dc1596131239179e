"""DRAM buffers and strided views of them: how the compiler lowers layout ops without copies."""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod

from atalla.blob_format import DTYPE_BYTES, DType, Role


@dataclass(eq=False)
class Buffer:
    """A tensor in DRAM, contiguous, bf16 (or an input's int32 row ids). Becomes one tensor-table entry."""

    name: str
    shape: tuple[int, ...]
    role: Role
    constant: bytes | None = None  # bf16 bytes of a CONSTANT
    defined_at: int = 0  # lowering step that writes it
    last_use: int = 0  # last lowering step that reads it
    dram_offset: int = -1  # set by the memory planner
    source: str = ""  # the graph node it holds the value of, for reports and debugging
    read: bool = False  # some command or host op reads it (an unread constant is left out of the blob)
    dtype: DType = DType.BF16
    index_bound: int = 0  # INT32 row ids: the fewest rows of a table they index

    @property
    def nbytes(self) -> int:
        return DTYPE_BYTES[self.dtype] * prod(self.shape)


def contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    out, acc = [], 1
    for d in reversed(shape):
        out.append(acc)
        acc *= d
    return tuple(reversed(out))


@dataclass(frozen=True)
class View:
    """Element (i0, i1, ...) is buffer element offset + sum(i_k * strides[k])."""

    buffer: Buffer = field(compare=False)
    shape: tuple[int, ...]
    strides: tuple[int, ...]
    offset: int = 0

    @staticmethod
    def of(buffer: Buffer) -> View:
        return View(buffer, buffer.shape, contiguous_strides(buffer.shape))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def numel(self) -> int:
        return prod(self.shape)

    def is_whole_buffer(self) -> bool:
        return self.offset == 0 and self.shape == self.buffer.shape and self.strides == contiguous_strides(self.shape)

    def with_layout(self, shape, strides, offset=None) -> View:
        return View(self.buffer, tuple(shape), tuple(strides), self.offset if offset is None else offset)

    def permute(self, dims) -> View:
        dims = [d % self.ndim for d in dims]
        return self.with_layout([self.shape[d] for d in dims], [self.strides[d] for d in dims])

    def transpose(self, d0: int, d1: int) -> View:
        dims = list(range(self.ndim))
        dims[d0], dims[d1] = dims[d1], dims[d0]
        return self.permute(dims)

    def unsqueeze(self, dim: int) -> View:
        dim = dim % (self.ndim + 1)
        stride = self.strides[dim] * self.shape[dim] if dim < self.ndim else 1
        return self.with_layout(self.shape[:dim] + (1,) + self.shape[dim:],
                                self.strides[:dim] + (stride,) + self.strides[dim:])

    def squeeze(self, dims) -> View:
        dims = {d % self.ndim for d in dims} if dims is not None else set(range(self.ndim))
        keep = [i for i in range(self.ndim) if not (i in dims and self.shape[i] == 1)]
        return self.with_layout([self.shape[i] for i in keep], [self.strides[i] for i in keep])

    def expand(self, sizes) -> View:
        """Broadcast to `sizes` (-1 keeps a dim): new and size-1 dims get stride 0."""
        lead = len(sizes) - self.ndim
        shape = [1] * lead + list(self.shape)
        strides = [0] * lead + list(self.strides)
        for i, s in enumerate(sizes):
            if s != -1 and s != shape[i]:
                if shape[i] != 1:
                    raise ValueError(f"cannot expand dim {i} of size {shape[i]} to {s}")
                shape[i], strides[i] = s, 0
        return self.with_layout(shape, strides)

    def broadcast_to(self, shape: tuple[int, ...]) -> View:
        return self.expand(list(shape))

    def slice(self, dim: int, start: int, end: int, step: int) -> View:
        dim %= self.ndim
        n = self.shape[dim]
        start = max(0, min(n, start + n if start < 0 else start))
        end = max(start, min(n, end + n if end < 0 else end))
        length = (end - start + step - 1) // step
        shape, strides = list(self.shape), list(self.strides)
        shape[dim], strides[dim] = length, strides[dim] * step
        return self.with_layout(shape, strides, self.offset + start * self.strides[dim])

    def select(self, dim: int, index: int) -> View:
        dim %= self.ndim
        index = index + self.shape[dim] if index < 0 else index
        return self.with_layout(self.shape[:dim] + self.shape[dim + 1 :], self.strides[:dim] + self.strides[dim + 1 :],
                                self.offset + index * self.strides[dim])

    def reshape(self, shape) -> View | None:
        """The view with the new shape, or None when the strides cannot express it (copy first)."""
        shape = infer_shape(shape, self.numel)
        strides = reshape_strides(self.shape, self.strides, shape)
        return None if strides is None else self.with_layout(shape, strides)


def infer_shape(shape, numel: int) -> tuple[int, ...]:
    shape = list(shape)
    if -1 in shape:
        i = shape.index(-1)
        rest = prod(s for j, s in enumerate(shape) if j != i)
        shape[i] = numel // rest if rest else 0
    if prod(shape) != numel:
        raise ValueError(f"cannot reshape {numel} elements to {tuple(shape)}")
    return tuple(shape)


def reshape_strides(old_shape, old_strides, new_shape) -> tuple[int, ...] | None:
    """Strides for viewing (old_shape, old_strides) as new_shape, if possible without a copy.

    Walks chunks of old dims that are contiguous among themselves and matches them to chunks of
    new dims with the same element count (the rule torch's view follows).
    """
    old = [(s, st) for s, st in zip(old_shape, old_strides) if s != 1]
    new_strides = [0] * len(new_shape)
    ni = 0
    oi = 0
    while oi < len(old) or ni < len(new_shape):
        # Gather one contiguous chunk of old dims.
        if oi == len(old):
            # Only size-1 new dims may remain.
            if any(new_shape[j] != 1 for j in range(ni, len(new_shape))):
                return None
            for j in range(ni, len(new_shape)):
                new_strides[j] = 1
            break
        chunk_numel, end = old[oi][0], oi
        while end + 1 < len(old) and old[end][1] == old[end + 1][1] * old[end + 1][0]:
            end += 1
            chunk_numel *= old[end][0]
        inner_stride = old[end][1]
        # Consume new dims whose product is exactly this chunk.
        acc, dims = 1, []
        while ni < len(new_shape) and (acc < chunk_numel or new_shape[ni] == 1):
            if acc == chunk_numel and new_shape[ni] == 1 and dims:
                break
            dims.append(ni)
            acc *= new_shape[ni]
            ni += 1
        if acc != chunk_numel:
            return None
        stride = inner_stride
        for j in reversed(dims):
            new_strides[j] = stride
            stride *= new_shape[j]
        oi = end + 1
    return tuple(new_strides)
