"""Graph capture: torch.export with static shapes, nothing else."""

from __future__ import annotations

import warnings

import torch

from compiler.errors import CompileError


def capture(module: torch.nn.Module, example_inputs: tuple, name: str, decompose: bool = False):
    """The ATen graph of `module` for exactly these input shapes.

    decompose=False keeps the pre-dispatch ops (aten.linear, aten.matmul, aten.softmax.int);
    decompose=True runs the core-ATen decompositions (aten.addmm, aten.bmm, aten.view, ...).
    """
    for i, x in enumerate(example_inputs):
        if not isinstance(x, torch.Tensor):
            raise CompileError(f"model {name!r}: example input {i} is a {type(x).__name__}, not a tensor")
        if x.dtype not in (torch.float32, torch.int64, torch.int32):
            raise CompileError(f"model {name!r}: example input {i} is {x.dtype}; inputs must be float32, or "
                               "int64/int32 row ids for an embedding")
    try:
        with warnings.catch_warnings():  # torch's own deprecation noise, not the user's concern
            warnings.filterwarnings("ignore", category=FutureWarning)
            exported = torch.export.export(module.eval(), tuple(example_inputs), strict=False)
    except Exception as e:  # torch raises many kinds here; the user needs the model name and the cause
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CompileError(f"model {name!r}: torch.export failed: {first}") from e
    if decompose:
        # Attention stays whole: Atalla lowers it as the pre-dispatch graph does (the same bits),
        # where torch's decomposition would add run-time boolean ops for fully masked rows.
        table = torch.export.default_decompositions()
        table.pop(torch.ops.aten.scaled_dot_product_attention.default, None)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning)
            exported = exported.run_decompositions(table)
    for node in exported.graph.nodes:
        val = node.meta.get("val")
        shapes = [v.shape for v in (val if isinstance(val, (tuple, list)) else [val]) if isinstance(v, torch.Tensor)]
        if any(not isinstance(d, int) for s in shapes for d in s):
            raise CompileError(f"model {name!r}: node {node.name} has a dynamic shape {tuple(shapes[0])}; "
                               "Atalla programs are compiled for static shapes")
    return exported
