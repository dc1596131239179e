"""The ExecuTorch backend: Atalla as a delegate of `to_edge_transform_and_lower`.

    lowered = to_edge_transform_and_lower(torch.export.export(model, inputs),
                                          partitioner=[AtallaPartitioner("small")])
    pte = lowered.to_executorch().buffer      # each delegate's payload is an Atalla blob

The partitioner asks our own partitioner (compiler.partition, over the op registry) which nodes
run on Atalla: the edge-dialect graph is first mapped back to ATen (`aten_program`), so there
is one decision, not two. `AtallaBackend.preprocess` compiles each tagged subgraph with the
compiler's own front door (compiler.driver.compile_exported) and returns the blob's bytes.
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
from torch.export import ExportedProgram
from torch.export.graph_signature import InputKind
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


def aten_program(edge_program: ExportedProgram) -> ExportedProgram:
    """A copy of an edge-dialect program whose nodes call the ATen ops (aten_target): what
    our compiler reads. Node names, the signature and the weights are the edge program's."""
    gm = copy.deepcopy(edge_program.graph_module)
    scalars = _edge_scalars(edge_program)
    for node in gm.graph.nodes:
        if node.op != "call_function":
            continue
        node.target = aten_target(node.target)
        if node.target in SCALAR_OPERAND_OPS and len(node.args) > 1 and getattr(node.args[1], "name", None) in scalars:
            node.args = (node.args[0], scalars[node.args[1].name], *node.args[2:])
    return ExportedProgram(root=gm, graph=gm.graph, graph_signature=edge_program.graph_signature,
                           state_dict=edge_program.state_dict, range_constraints=edge_program.range_constraints,
                           module_call_graph=edge_program.module_call_graph, constants=edge_program.constants)


def _edge_scalars(edge_program: ExportedProgram) -> dict[str, float]:
    """Placeholder name -> value of the 0-dim buffers the edge dialect made from Python scalars."""
    out = {}
    for spec in edge_program.graph_signature.input_specs:
        value = edge_program.state_dict.get(spec.target) if spec.target else None
        if (spec.kind == InputKind.BUFFER and spec.target.startswith(EDGE_SCALAR_PREFIX)
                and isinstance(value, torch.Tensor) and value.dim() == 0):
            out[spec.arg.name] = value.item()
    return out


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
