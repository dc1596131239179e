"""Constant folding: every node whose value depends only on shapes and constants is computed at
compile time, between capture and partition.

`arange`, `full`, `ones`, masks built from them (`triu`, comparisons, `where`), casts, views and
`embedding` of a constant table with constant ids never reach Atalla or the host: their values
become program constants where a kernel reads them (bf16, like parameters), or are consumed at
compile time (a boolean mask becomes an additive or a select constant). A node whose only inputs
are the model's own parameters and that Atalla can run as it is (a weight's transpose, say) is
left alone: the kernels read parameters in place.
"""

from __future__ import annotations

import torch
from torch.export import ExportedProgram
from torch.export.graph_signature import InputKind

from compiler.errors import CompileError
from compiler.ops import unsupported_reason

CONSTANT_KINDS = (InputKind.PARAMETER, InputKind.BUFFER, InputKind.CONSTANT_TENSOR)
aten = torch.ops.aten
# Ops that read only their first argument's shape and dtype: constants even of a run-time tensor.
SHAPE_ONLY = frozenset({aten.zeros_like.default, aten.ones_like.default, aten.full_like.default,
                        aten.new_zeros.default, aten.new_ones.default, aten.new_full.default})


def constant_inputs(exported: ExportedProgram) -> tuple[dict, set]:
    """The placeholders whose values the program carries (parameters, buffers, lifted constants):
    node -> value, and the set of the lifted constants (tensors the model's code made)."""
    state = dict(exported.state_dict)
    state.update(exported.constants)
    specs = {s.arg.name: s for s in exported.graph_signature.input_specs}
    nodes = [n for n in exported.graph.nodes if n.op == "placeholder" and specs[n.name].kind in CONSTANT_KINDS]
    lifted = {n for n in nodes if specs[n.name].kind == InputKind.CONSTANT_TENSOR}
    return {n: state[specs[n.name].target].detach() for n in nodes}, lifted


def fold(exported: ExportedProgram, model: str) -> dict:
    """fx node -> its compile-time value (a tensor, a tuple of them, or None), for every node folded,
    every lifted constant and every non-float parameter or buffer."""
    known, lifted = constant_inputs(exported)
    # A tensor the model's code made (a mask, say) and any boolean or integer constant are
    # compile-time values like any folded node; parameters and buffers are the model's state.
    folded = {node: value for node, value in known.items() if node in lifted or not value.is_floating_point()}
    for node in exported.graph.nodes:
        if node.op != "call_function":
            continue
        stand_in = {}  # a run-time tensor only the shape of which is read: zeros of that shape
        if node.target in SHAPE_ONLY and node.args[0] not in known:
            meta = node.args[0].meta["val"]
            stand_in[node.args[0]] = torch.zeros(meta.shape, dtype=meta.dtype)
        inputs = [a for a in node.all_input_nodes if a not in stand_in]
        if not all(a in known for a in inputs):
            continue
        if isinstance(node.target, torch._ops.OpOverload) and torch.Tag.nondeterministic_seeded in node.target.tags:
            continue  # random values are drawn at run time, not frozen into the program
        only_parameters = inputs and not any(a in folded for a in inputs)
        if only_parameters and unsupported_reason(node) is None:
            continue
        value_of = lambda a: stand_in[a] if a in stand_in else known[a]  # noqa: E731
        args, kwargs = torch.fx.node.map_arg((node.args, node.kwargs), value_of)
        try:
            with torch.no_grad():
                value = node.target(*args, **kwargs)
        except Exception as e:  # any failure of the op itself; the user needs the node and the cause
            raise CompileError(f"model {model!r}, node {node.name} ({node.target}): constant folding failed: {e}") from e
        known[node] = folded[node] = value
    return folded
