"""A blob's inputs and outputs as files: NumPy .npz archives keyed by the blob's tensor names
(or positionally, arr_0, arr_1, ... as np.savez writes unnamed arrays), checked against the
program's tensor table with errors that name the tensor."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from atalla.blob_format import DType, Role
from atalla.program import Program

POSITIONAL = "arr_{}"  # np.savez's names for positional arrays


class TensorFileError(ValueError):
    pass


def bind(program: Program, role: Role, arrays: Mapping[str, np.ndarray], source: str) -> list[np.ndarray]:
    """The arrays for the program's tensors of `role` (inputs, or outputs for a golden file), in the
    program's order: every one present by name or by position, of the compiled shape, float32 (or
    integers for a tensor of row ids)."""
    tensors = program.by_role(role)
    kind = role.name.lower()
    names = [t.name for t in tensors]
    positional = [POSITIONAL.format(i) for i in range(len(tensors))]
    by_position = bool(arrays) and set(arrays) <= set(positional) and not set(arrays) & set(names)
    keys = positional if by_position else names
    unknown = sorted(set(arrays) - set(keys))
    if unknown:
        raise TensorFileError(f"{source}: the program has no {kind} tensor named {', '.join(unknown)} (its {kind}s: "
                              f"{', '.join(names)})")
    out = []
    for tensor, key in zip(tensors, keys):
        if key not in arrays:
            raise TensorFileError(f"{source}: no array for {kind} {tensor.name!r} (name it so, or give every {kind} "
                                  f"in order as {', '.join(positional)})")
        value = arrays[key]
        if tensor.dtype == DType.INT32 and value.dtype.kind not in "iu":
            raise TensorFileError(f"{source}: {kind} {tensor.name!r} is {value.dtype}; the program takes integer "
                                  "row ids")
        if tensor.dtype == DType.BF16 and value.dtype != np.float32:
            raise TensorFileError(f"{source}: {kind} {tensor.name!r} is {value.dtype}; the program takes float32")
        if value.shape != tensor.shape:
            raise TensorFileError(f"{source}: {kind} {tensor.name!r} has shape {list(value.shape)}; the program "
                                  f"was compiled for {list(tensor.shape)}")
        out.append(value)
    return out


def load(program: Program, role: Role, path: str | Path) -> list[np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError) as e:  # missing, not an .npz, or an object array
        raise TensorFileError(f"{path}: not a readable .npz of arrays: {e}") from None
    return bind(program, role, arrays, str(path))


def save(program: Program, role: Role, path: str | Path, values: list[np.ndarray]) -> None:
    """The values of the program's tensors of `role`, by tensor name."""
    np.savez(path, **{t.name: v for t, v in zip(program.by_role(role), values)})
