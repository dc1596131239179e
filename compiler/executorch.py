"""The ExecuTorch backend: Atalla as a delegate of `to_edge_transform_and_lower`.

    lowered = to_edge_transform_and_lower(torch.export.export(model, inputs),
                                          partitioner=[AtallaPartitioner("small")])
    pte = lowered.to_executorch().buffer      # each delegate's payload is an Atalla blob

The partitioner asks our own partitioner (compiler.partition, over the op registry) which nodes
run on Atalla: the edge-dialect graph is first mapped back to ATen (`aten_program`), so there
is one decision, not two. Before that, every value our compiler would fold at compile time
(compiler.fold: position ids, causal masks, ...) becomes a constant of the program
(`transform_for_pre_decomposition`): ExecuTorch copies a constant into each delegate that reads
it, where a computed integer or boolean value would have to pass from one delegate to the next.
`AtallaBackend.preprocess` compiles each tagged subgraph with the compiler's own front door
(compiler.driver.compile_exported) and returns the blob's bytes.
Needs the optional extra `.[executorch]`; runtime/executorch.py runs what this produces.
"""

from __future__ import annotations

import copy
import json
from typing import final

import torch
from executorch.exir.backend.backend_details import BackendDetails, PreprocessResult
from executorch.exir.backend.compile_spec_schema import CompileSpec
from executorch.exir.backend.partitioner import DelegationSpec, Partitioner, PartitionResult
from executorch.exir.backend.utils import tag_constant_data
from torch._guards import detect_fake_mode
from torch.export import ExportedProgram
from torch.export.graph_signature import ExportGraphSignature, InputKind, InputSpec, TensorArgument
from torch.fx.passes.infra.partitioner import CapabilityBasedPartitioner
from torch.fx.passes.operator_support import OperatorSupportBase

from atalla.config import HardwareConfig, get_config
from compiler.driver import compile_exported
from compiler.fold import fold
from compiler.ops import REGISTRY, unsupported_reason
from compiler.partition import ATALLA, HOST
from compiler.partition import partition as placements

aten = torch.ops.aten
# Ops whose second operand the edge dialect turns from a Python scalar into a 0-dim tensor buffer
# (ExecuTorch's ScalarToTensorPass, lifted as "_lifted_tensor_constant<N>"): aten_program turns it
# back, so the delegate computes with the scalar as `atalla compile` does (an fp32 operand, where
# a tensor would be stored as bf16).
SCALAR_OPERAND_OPS = (aten.add.Tensor, aten.sub.Tensor, aten.mul.Tensor, aten.div.Tensor)
EDGE_SCALAR_PREFIX = "_lifted_tensor_constant"
CONFIG_SPEC = "atalla_config"  # compile spec: the HardwareConfig's fields as JSON (its name among them)
MODEL_SPEC = "atalla_model"  # compile spec: the model name the blob records
FOLDED_PREFIX = "atalla_folded_"  # the lifted constants transform_for_pre_decomposition makes
# The edge dialect's dim-order forms of clone and cast (ExecuTorch's MemoryFormatOpsPass): with the
# contiguous dim order (or none) they are the ATen ops in the contiguous (preserved) format.
DIM_ORDER_OPS = {"_clone_dim_order": aten.clone.default, "_to_dim_order_copy": aten._to_copy.default}


def aten_target(target):
    """The ATen op an edge-dialect node stands for: the op an EdgeOpOverload wraps, and for the
    edge dialect's functional copies of view ops (`permute_copy`, `view_copy`, ...) the view op
    itself, which Atalla lowers as a strided view with the same result."""
    op = getattr(target, "_op", target)
    if not isinstance(op, torch._ops.OpOverload) or op in REGISTRY or op.namespace != "aten":
        return op
    name = op._schema.name.split("::", 1)[1]
    if name.endswith("_copy"):
        view = getattr(getattr(aten, name.removesuffix("_copy"), None), op._overloadname, None)
        if view in REGISTRY and REGISTRY[view].layout:
            return view
    return op


def _aten_call(node: torch.fx.Node):
    """(target, kwargs) of the ATen call an edge-dialect node stands for: aten_target, and a
    dim-order clone or cast in the contiguous order as aten.clone / aten._to_copy (any other dim
    order stays as it is: no Atalla kernel, so the host runs it)."""
    op = getattr(node.target, "_op", node.target)
    if isinstance(op, torch._ops.OpOverload) and op.namespace == "dim_order_ops":
        aten_op = DIM_ORDER_OPS.get(op._schema.name.split("::", 1)[1])
        kwargs = dict(node.kwargs)
        dim_order = kwargs.pop("dim_order", None)
        kwargs.pop("non_blocking", None)
        rank = len(node.args[0].meta["val"].shape)
        if aten_op is not None and (dim_order is None or list(dim_order) == list(range(rank))):
            kwargs["memory_format"] = torch.preserve_format if dim_order is None else torch.contiguous_format
            return aten_op, kwargs
        return op, node.kwargs
    return aten_target(node.target), node.kwargs


def aten_program(edge_program: ExportedProgram) -> ExportedProgram:
    """A copy of an edge-dialect program whose nodes call the ATen ops (aten_target): what
    our compiler reads. Node names, the signature and the weights are the edge program's."""
    gm = _copy(edge_program.graph_module)
    scalars = _edge_scalars(edge_program)
    for node in gm.graph.nodes:
        if node.op != "call_function":
            continue
        node.target, node.kwargs = _aten_call(node)
        if node.target in SCALAR_OPERAND_OPS and len(node.args) > 1 and getattr(node.args[1], "name", None) in scalars:
            node.args = (node.args[0], scalars[node.args[1].name], *node.args[2:])
    return _over(gm, edge_program)


def _copy(gm: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """A deep copy with the node names of gm: fx's copy renames a node named like a Python builtin
    (an `nn.Embedding`'s input is `input`), and the program's signature names the nodes."""
    copied = copy.deepcopy(gm)
    for node, original in zip(copied.graph.nodes, gm.graph.nodes):
        node.name = original.name
    copied.recompile()
    return copied


def _over(gm: torch.fx.GraphModule, program: ExportedProgram, **changed) -> ExportedProgram:
    """An ExportedProgram of graph module gm with program's signature, weights and constraints
    (those in `changed` replaced)."""
    parts = dict(graph_signature=program.graph_signature, state_dict=program.state_dict,
                 range_constraints=program.range_constraints, module_call_graph=program.module_call_graph,
                 constants=program.constants)
    return ExportedProgram(root=gm, graph=gm.graph, **{**parts, **changed})


def _edge_scalars(edge_program: ExportedProgram) -> dict[str, float]:
    """Placeholder name -> value of the 0-dim buffers the edge dialect made from Python scalars."""
    out = {}
    for spec in edge_program.graph_signature.input_specs:
        value = edge_program.state_dict.get(spec.target) if spec.target else None
        if (spec.kind == InputKind.BUFFER and spec.target.startswith(EDGE_SCALAR_PREFIX)
                and isinstance(value, torch.Tensor) and value.dim() == 0):
            out[spec.arg.name] = value.item()
    return out


def fold_to_constants(exported: ExportedProgram, model: str) -> ExportedProgram:
    """A copy of an ATen program in which every value compiler.fold computes at compile time and
    a run-time node reads is a lifted constant (contiguous) instead of the nodes computing it;
    those nodes, and the parameters and constants only they read, are gone. The partitioner then
    never sees a compile-time value: a constant is data ExecuTorch gives each delegate reading it.
    A folded value the program returns as it is stays computed (an output cannot be a constant)."""
    gm = _copy(exported.graph_module)
    graph = gm.graph
    folded = fold(_over(gm, exported), model)
    specs = {s.arg.name: s for s in exported.graph_signature.input_specs}
    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    first_input = next((n for n in placeholders if specs[n.name].kind == InputKind.USER_INPUT), None)
    fake_mode = detect_fake_mode(tuple(n.meta["val"] for n in placeholders))
    constants = dict(exported.constants)
    frontier = [n for n in graph.nodes if n.op == "call_function" and n in folded
                and isinstance(folded[n], torch.Tensor) and any(u not in folded for u in n.users)
                and not any(u.op == "output" for u in n.users)]
    if not frontier or first_input is None:
        return exported
    for node in frontier:
        value = folded[node].detach().contiguous()
        target = f"{FOLDED_PREFIX}{node.name}"
        constants[target] = value
        with graph.inserting_before(first_input):
            constant = graph.placeholder(target)
        constant.meta.update(node.meta)
        constant.meta["val"] = fake_mode.from_tensor(value, static_shapes=True)
        node.replace_all_uses_with(constant)
        specs[constant.name] = InputSpec(InputKind.CONSTANT_TENSOR, TensorArgument(constant.name), target)
    graph.eliminate_dead_code()
    state_dict = dict(exported.state_dict)
    for node in [n for n in graph.nodes if n.op == "placeholder" and not n.users]:
        spec = specs[node.name]
        if spec.kind in (InputKind.PARAMETER, InputKind.BUFFER, InputKind.CONSTANT_TENSOR):
            state_dict.pop(spec.target, None)
            constants.pop(spec.target, None)
            graph.erase_node(node)
    gm.recompile()
    signature = ExportGraphSignature([specs[n.name] for n in graph.nodes if n.op == "placeholder"],
                                     list(exported.graph_signature.output_specs))
    return _over(gm, exported, graph_signature=signature, state_dict=state_dict, constants=constants)


def atalla_compile_specs(config: HardwareConfig, model: str) -> list[CompileSpec]:
    return [CompileSpec(CONFIG_SPEC, json.dumps(config.as_dict(), sort_keys=True).encode()),
            CompileSpec(MODEL_SPEC, model.encode())]


def _read_specs(specs: list[CompileSpec]) -> tuple[HardwareConfig, str]:
    values = {s.key: s.value for s in specs}
    if CONFIG_SPEC not in values:
        raise ValueError(f"AtallaBackend: no {CONFIG_SPEC!r} compile spec (AtallaPartitioner sets it)")
    config = HardwareConfig(**json.loads(values[CONFIG_SPEC]))
    return config, values.get(MODEL_SPEC, b"model").decode()


@final
class AtallaBackend(BackendDetails):
    @staticmethod
    def preprocess(edge_program: ExportedProgram, compile_specs: list[CompileSpec]) -> PreprocessResult:
        """The subgraph's blob: the bytes `atalla compile` writes for this graph."""
        config, model = _read_specs(compile_specs)
        return PreprocessResult(processed_bytes=compile_exported(aten_program(edge_program), config, model).blob())


class _OnAtalla(OperatorSupportBase):
    """Supported = our partitioner did not send the node to the host (Atalla compute, a view, or a
    value folded at compile time)."""

    def __init__(self, where: dict[str, str]):
        self.where = where

    def is_node_supported(self, submodules, node: torch.fx.Node) -> bool:
        return node.op == "call_function" and self.where.get(node.name, HOST) != HOST


@final
class AtallaPartitioner(Partitioner):
    def __init__(self, config: str | HardwareConfig = "small", model: str = "model"):
        self.config = get_config(config) if isinstance(config, str) else config
        self.model = model
        self.delegation_spec = DelegationSpec(AtallaBackend.__name__, atalla_compile_specs(self.config, model))
        super().__init__()

    def transform_for_pre_decomposition(self, exported_program: ExportedProgram) -> ExportedProgram:
        """Compile-time values as constants (fold_to_constants), before ExecuTorch decomposes."""
        return fold_to_constants(exported_program, self.model)

    def ops_to_not_decompose(self, ep: ExportedProgram):
        """Every compute op of the registry that core ATen would decompose (linear, matmul, softmax,
        layer_norm, sdpa, ...): Atalla lowers them whole. An op with a node our partitioner would send
        to the host is left out, so all its nodes decompose as usual. (A per-node filter would say it
        more finely, but ExecuTorch then takes its EDGE_DO_NOT_DECOMP path, which mis-traces an sdpa
        followed by a reshape: the mha model fails to lower.)"""
        folded = fold(ep, self.model)
        whole = {op for op, entry in REGISTRY.items()
                 if isinstance(op, torch._ops.OpOverload) and not entry.layout and torch.Tag.core not in op.tags}
        refused = {node.target for node in ep.graph.nodes if node.op == "call_function" and node.target in whole
                   and unsupported_reason(node, folded) is not None}
        return sorted(whole - refused, key=str), None

    def partition(self, exported_program: ExportedProgram) -> PartitionResult:
        view = aten_program(exported_program)
        where = {p.node: p.where for p in placements(view.graph, fold(view, self.model))}
        proposed = CapabilityBasedPartitioner(exported_program.graph_module, _OnAtalla(where),
                                              allows_single_node_partition=True).propose_partitions()
        tags = {}
        for part in proposed:
            if not any(where.get(n.name) == ATALLA for n in part.nodes):
                continue  # views alone: nothing for Atalla to compute, the host keeps them
            tag = f"atalla_{len(tags)}"
            for node in part.nodes:
                node.meta["delegation_tag"] = tag
            tags[tag] = self.delegation_spec
        tag_constant_data(exported_program)
        return PartitionResult(tagged_exported_program=exported_program, partition_tags=tags)
