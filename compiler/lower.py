"""Lowering: walks the exported graph in order and turns it into a Program.

Atalla nodes emit commands through their registry entry; host nodes become HOST commands with
a host-op table entry; layout nodes become views; folded nodes (compiler.fold) are compile-time
values, a program constant where something reads them from DRAM. Then the memory planner places every buffer
and the DMA commands get their DRAM addresses.
"""

from __future__ import annotations

import operator
from collections import Counter

import numpy as np
import torch
from torch.export import ExportedProgram
from torch.export.graph_signature import InputKind

import atalla
from atalla.blob_format import NO_CONSTANT, DType, Role
from atalla.config import HardwareConfig
from atalla.host_ops import host_op_problem
from atalla.isa import BF16_BYTES, COMMAND_BYTES
from atalla.numerics import f32_to_bf16_bits
from atalla.program import HostOp, Program, TensorInfo
from compiler import ops
from compiler.emitter import Emitter
from compiler.errors import CompileError
from compiler.partition import FOLDED, HOST, Placement
from compiler.plan import PlanReport, plan
from compiler.values import Buffer, View


class Lowering:
    def __init__(self, exported: ExportedProgram, config: HardwareConfig, model: str, folded: dict | None = None):
        self.exported = exported
        self.folded = folded or {}  # fx node -> compile-time value (compiler.fold)
        self._folded_views: dict = {}  # folded node -> its program constant, made on first use
        self._results: dict = {}  # node -> the view its result is written to (ops.join_place)
        self.where: dict[str, Placement] = {}
        self.config = config
        self.model = model
        self.em = Emitter(config)
        self.buffers: list[Buffer] = []
        self.values: dict = {}  # fx node -> View, or tuple of Views
        self.fused: dict = {}  # fx node -> its View, computed by the node it reads (a GEMM's epilogue)
        self.host_ops: list[tuple[str, list, dict, list[Buffer]]] = []
        self.node_commands: list[dict] = []
        self.outputs: list[Buffer] = []  # in the model's output order
        self._laid_out: dict[tuple, View] = {}  # constants laid out again at compile time

    # -- helpers the op lowerings call -------------------------------------------------------
    def new_buffer(self, name: str, shape, role: Role, constant: bytes | None = None) -> Buffer:
        b = Buffer(name, tuple(int(d) for d in shape), role, constant, defined_at=self.em.step,
                   last_use=self.em.step, source=name)
        self.buffers.append(b)
        return b

    def bound_row_ids(self, row_ids: View, table_rows: int, node) -> None:
        """row_ids index a table of table_rows rows: the input holding them must keep to it."""
        b = row_ids.buffer
        if b.role != Role.INPUT:
            raise CompileError(f"the row ids of {node.name} are computed on Atalla; only an input's ids can be gathered")
        b.index_bound = min(b.index_bound or table_rows, table_rows)

    def output(self, node) -> View:
        """Where the node's result goes: its part of a join's buffer (ops.join_place), else a fresh
        intermediate buffer."""
        if node not in self._results:
            self._results[node] = (ops.join_place(self, node)
                                   or View.of(self.new_buffer(node.name, node.meta["val"].shape, Role.INTERMEDIATE)))
        return self._results[node]

    def on_atalla(self, node) -> bool:
        return self.where[node.name].where != HOST

    def materialize(self, view: View, name: str) -> View:
        out = View.of(self.new_buffer(name, view.shape, Role.INTERMEDIATE))
        ops.materialize(self, out, view)
        return out

    def contiguous_constant(self, view: View) -> View:
        """A strided view of a constant (a Linear weight used transposed, say) as a constant of its
        own, laid out contiguously at compile time: the kernels then move whole rows by DMA
        instead of gathering element by element."""
        if view.buffer.role != Role.CONSTANT or view.is_whole_buffer():
            return view
        key = (id(view.buffer), view.shape, view.strides, view.offset)
        if key not in self._laid_out:
            source = np.frombuffer(view.buffer.constant, np.uint16)
            data = np.lib.stride_tricks.as_strided(source[view.offset :], view.shape,
                                                   [BF16_BYTES * s for s in view.strides])
            others = sum(k[0] == id(view.buffer) for k in self._laid_out)
            name = f"{view.buffer.name}.laid_out" + (str(others) if others else "")
            self._laid_out[key] = View.of(self.new_buffer(name, view.shape, Role.CONSTANT,
                                                          np.ascontiguousarray(data).tobytes()))
        return self._laid_out[key]

    def constant(self, name: str, value: torch.Tensor) -> View:
        """A compile-time value as a bf16 program constant. Dims it is broadcast along (stride 0, as
        `expand` leaves them) are stored once."""
        compact = value[tuple(slice(0, 1) if stride == 0 else slice(None) for stride in value.stride())]
        bits = f32_to_bf16_bits(compact.to(torch.float32).contiguous().numpy())
        return View.of(self.new_buffer(name, compact.shape, Role.CONSTANT, bits.tobytes())).expand(list(value.shape))

    def constant_value(self, node) -> torch.Tensor | None:
        """The float32 value of a parameter, buffer or constant placeholder, as the model holds it
        (before rounding to bf16): what compile-time folding computes from. None for anything else."""
        if not isinstance(node, torch.fx.Node) or node.op != "placeholder":
            return None
        spec = next(s for s in self.exported.graph_signature.input_specs if s.arg.name == node.name)
        if spec.kind not in (InputKind.PARAMETER, InputKind.BUFFER, InputKind.CONSTANT_TENSOR):
            return None
        value = self.exported.state_dict.get(spec.target, self.exported.constants.get(spec.target))
        return value.detach().float() if value is not None else None

    def reshape(self, view: View, shape) -> View:
        reshaped = view.reshape(shape)
        if reshaped is None:  # not expressible as strides: copy to contiguous first
            reshaped = self.materialize(view, f"{view.buffer.name}_contiguous").reshape(shape)
        return reshaped

    # -- the walk ------------------------------------------------------------------------------
    def run(self, placements: list[Placement]) -> Program:
        self.where = where = {p.node: p for p in placements}
        self._placeholders()
        for step, node in enumerate(self.exported.graph.nodes, start=1):
            self.em.step = step
            if node.op != "call_function":
                continue
            first = len(self.em.commands)
            p = where[node.name]
            if p.where == FOLDED:
                self.values[node] = self.folded[node]
            elif node in self.fused:
                self.values[node] = self.fused.pop(node)
            elif node.target is operator.getitem:
                self.values[node] = self.values[node.args[0]][node.args[1]]
            elif p.where == HOST:
                self._host(node)
            else:
                self._atalla(node)
            self.node_commands.append({"node": node.name, "target": p.target, "where": p.where,
                                       "commands": [first, len(self.em.commands)]})
        self.em.step = step + 1
        self._outputs()
        self.em.end()
        for b in self.buffers:
            if b.dtype == DType.INT32 and not b.index_bound:
                raise CompileError(f"model {self.model!r}: integer input {b.name} is read by no embedding; "
                                   "integer inputs are row ids")
        # A constant nothing reads (a weight only used laid out again) stays out of the blob.
        self.buffers = [b for b in self.buffers if b.role != Role.CONSTANT or b.read]
        report = plan(self.buffers, self.em.step, self.config.dram_align)
        return self._program(report)

    def _placeholders(self) -> None:
        sig = self.exported.graph_signature
        specs = {s.arg.name: s for s in sig.input_specs}
        state = dict(self.exported.state_dict)
        state.update(self.exported.constants)
        for node in self.exported.graph.nodes:
            if node.op != "placeholder":
                continue
            spec = specs[node.name]
            if spec.kind == InputKind.USER_INPUT:
                buffer = self.new_buffer(node.name, node.meta["val"].shape, Role.INPUT)
                if node.meta["val"].dtype != torch.float32:  # row ids (compiler.capture lets only those in)
                    buffer.dtype = DType.INT32
                self.values[node] = View.of(buffer)
            elif not node.users:
                continue  # e.g. a BatchNorm step counter: never read
            elif node in self.folded:  # a lifted or non-float constant: a compile-time value (compiler.fold)
                self.values[node] = self.folded[node]
            elif spec.kind in (InputKind.PARAMETER, InputKind.BUFFER, InputKind.CONSTANT_TENSOR):
                data = state[spec.target].detach()
                if data.dtype != torch.float32:
                    raise CompileError(f"model {self.model!r}: constant {spec.target!r} is {data.dtype}; "
                                       "only float32 constants are supported")
                bits = f32_to_bf16_bits(data.contiguous().numpy())
                self.values[node] = View.of(self.new_buffer(spec.target, data.shape, Role.CONSTANT, bits.tobytes()))
            else:
                raise CompileError(f"model {self.model!r}: input {node.name} of kind {spec.kind.name} is not supported")

    def _view_of(self, arg, consumer) -> View:
        """The value of node `arg` as `consumer` reads it from DRAM: a folded value becomes a program
        constant on first use."""
        value = self.values[arg]
        if not isinstance(value, torch.Tensor):
            return value
        if not value.is_floating_point():
            raise CompileError(f"model {self.model!r}, node {consumer.name} ({consumer.target}): the compile-time "
                               f"{value.dtype} value of node {arg.name} cannot be stored in Atalla DRAM (bf16)")
        if arg not in self._folded_views:
            self._folded_views[arg] = self.constant(arg.name, value)
        return self._folded_views[arg]

    def _resolve(self, arg, consumer, raw_constants: bool):
        if isinstance(arg, torch.fx.Node):
            return self.folded[arg] if raw_constants and arg in self.folded else self._view_of(arg, consumer)
        if isinstance(arg, (list, tuple)):
            return type(arg)(self._resolve(a, consumer, raw_constants) for a in arg)
        return arg

    def _atalla(self, node) -> None:
        entry = ops.REGISTRY[node.target]
        args = [self._resolve(a, node, entry.takes_constants) for a in node.args]
        kwargs = {k: self._resolve(v, node, entry.takes_constants) for k, v in node.kwargs.items()}
        try:
            self.values[node] = entry.lower(self, node, *args, **kwargs)
        except CompileError as e:
            raise CompileError(f"model {self.model!r}, node {node.name} ({node.target}): {e}") from None

    def _host(self, node) -> None:
        def encode(arg):
            if isinstance(arg, torch.fx.Node):
                view = self._view_of(arg, node)
                if view.buffer.dtype != DType.BF16:
                    raise CompileError(f"model {self.model!r}, node {node.name} ({node.target}): the host reads "
                                       f"bf16 tensors, and {arg.name} holds {view.buffer.dtype.name} row ids")
                if not view.is_whole_buffer():  # the firmware reads whole contiguous tensors
                    view = self.materialize(view, f"{arg.name}_for_{node.name}")
                view.buffer.last_use = max(view.buffer.last_use, self.em.step)
                view.buffer.read = True
                return {"tensor": view.buffer}
            if isinstance(arg, (list, tuple)):
                return [encode(a) for a in arg]
            if arg is None or isinstance(arg, (bool, int, float, str)):
                return arg
            raise CompileError(f"model {self.model!r}, node {node.name}: a {type(arg).__name__} argument "
                               f"cannot be passed to the host op {node.target}")

        args = [encode(a) for a in node.args]
        kwargs = {k: encode(v) for k, v in node.kwargs.items()}
        problem = host_op_problem(str(node.target), args, kwargs)
        if problem is not None:
            raise CompileError(f"model {self.model!r}, node {node.name} ({node.target}): "
                               f"{ops.unsupported_reason(node)}, and the host may not run it: {problem}")
        val = node.meta["val"]
        results = list(val) if isinstance(val, (tuple, list)) else [val]
        if not all(isinstance(r, torch.Tensor) and r.dtype == torch.float32 for r in results):
            raise CompileError(f"model {self.model!r}, node {node.name} ({node.target}) returns non-float32 "
                               "results, which Atalla DRAM cannot hold")
        outs = [self.new_buffer(node.name if len(results) == 1 else f"{node.name}_{i}", r.shape, Role.INTERMEDIATE)
                for i, r in enumerate(results)]
        self.em.wait_all()  # the host reads and writes DRAM: no DMA may be in flight
        self.em.host(len(self.host_ops))
        self.host_ops.append((str(node.target), args, kwargs, outs))
        views = tuple(View.of(b) for b in outs)
        self.values[node] = views if isinstance(val, (tuple, list)) else views[0]

    def _outputs(self) -> None:
        out_node = next(n for n in self.exported.graph.nodes if n.op == "output")
        for i, arg in enumerate(out_node.args[0]):
            if not isinstance(arg, torch.fx.Node) or not isinstance(self.values.get(arg), (View, torch.Tensor)):
                raise CompileError(f"model {self.model!r}: output {i} is not a tensor")
            view = self._view_of(arg, out_node)
            b = view.buffer
            if b.dtype != DType.BF16:
                raise CompileError(f"model {self.model!r}: output {i} is the {b.dtype.name} row ids of {b.name}; "
                                   "outputs are float")
            if view.is_whole_buffer() and b.role == Role.INTERMEDIATE:
                b.role, b.name = Role.OUTPUT, f"output{i}"
            else:  # an input, constant, view or repeated output: copy into a tensor of its own
                b = self.new_buffer(f"output{i}", view.shape, Role.OUTPUT)
                ops.materialize(self, View.of(b), view)
                b.source = arg.name
            self.outputs.append(b)

    # -- the program -----------------------------------------------------------------------------
    def _program(self, report: PlanReport) -> Program:
        cfg = self.config
        program_offset = -(-report.peak_bytes // cfg.dram_align) * cfg.dram_align
        used = program_offset + COMMAND_BYTES * len(self.em.commands)
        if used > cfg.dram_bytes:
            raise CompileError(f"model {self.model!r} needs {used} bytes of DRAM; config {cfg.name!r} has "
                               f"{cfg.dram_bytes}")
        self.em.resolve_dram()
        # Inputs in the model's order, then outputs in the model's order: the runtime binds them by position.
        role_order = {Role.INPUT: 0, Role.OUTPUT: 1, Role.CONSTANT: 2, Role.INTERMEDIATE: 3}
        position = {id(b): i for i, b in enumerate(self.outputs)}
        table = sorted(self.buffers, key=lambda b: (role_order[b.role], position.get(id(b), 0)))
        ids = {id(b): i for i, b in enumerate(table)}
        constants = bytearray()
        tensors = []
        for b in table:
            const_offset = NO_CONSTANT
            if b.constant is not None:
                const_offset = len(constants)
                constants += b.constant
            tensors.append(TensorInfo(b.name, b.role, b.shape, b.dram_offset, dtype=b.dtype, const_offset=const_offset,
                                      index_bound=b.index_bound))

        def ids_of(arg):
            if isinstance(arg, dict):
                return {"tensor": ids[id(arg["tensor"])]}
            if isinstance(arg, list):
                return [ids_of(a) for a in arg]
            return arg

        host_ops = [HostOp(target, ids_of(args), {k: ids_of(v) for k, v in kwargs.items()}, [ids[id(b)] for b in outs])
                    for target, args, kwargs, outs in self.host_ops]
        kinds = Counter(c.kind for c in self.em.commands)
        metadata = {
            "model": self.model,
            "compiler_version": atalla.__version__,
            "ops": dict(sorted(Counter(n["target"] for n in self.node_commands).items())),
            "commands_by_kind": dict(sorted(kinds.items())),
            "nodes": self.node_commands,
            "tensor_sources": {b.name: b.source for b in table if b.role in (Role.OUTPUT, Role.INTERMEDIATE)},
            # Lowering steps each intermediate is live in: which ones a later tensor overwrites.
            "lifetimes": {b.name: [b.defined_at, b.last_use] for b in table if b.role == Role.INTERMEDIATE},
            "memory_plan": report.as_dict(),
            "scratchpad_peak_bytes": self.em.sp_peak_bytes,
        }
        return Program(cfg, tensors, bytes(constants), list(self.em.commands), host_ops, program_offset, used, metadata)



