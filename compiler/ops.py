"""The op registry: each supported ATen op and how it lowers onto the kernel library.

A lowering takes the node's operands as strided views (compiler.values.View) and returns the
view of its result. Layout ops return views and emit nothing; compute ops write a new buffer
through a kernel. `check` says why a particular node cannot run on Atalla (it then falls back
to the host), or None.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from itertools import product
from typing import Callable

import numpy as np
import torch

from atalla.blob_format import Role
from atalla.config import HardwareConfig
from atalla.isa import VecFunc
from atalla.numerics import MAX_POWER
from compiler.errors import CompileError
from compiler.kernels import activations
from compiler.kernels import attention as attention_kernel
from compiler.kernels import conv as conv_kernel
from compiler.kernels import copy as copy_kernel
from compiler.kernels import elementwise as ew
from compiler.kernels import exp as exp_kernel
from compiler.kernels import gather as gather_kernel
from compiler.kernels import gemm as gemm_kernel
from compiler.kernels import mlp as mlp_kernel
from compiler.kernels import pool as pool_kernel
from compiler.kernels import rownorm
from compiler.kernels import softmax as softmax_kernel
from compiler.kernels.pointwise import Emit, pointwise
from compiler.values import View

aten = torch.ops.aten
ROW_ID_DTYPES = (torch.int64, torch.int32)  # what a model's row-id input may be; DRAM holds int32


@dataclass(frozen=True)
class OpEntry:
    lower: Callable  # (ctx, node, *args, **kwargs) -> View
    check: Callable | None = None  # (node, *args, **kwargs) -> reason it cannot run here, or None
    layout: bool = False  # a view: no commands
    takes_constants: bool = False  # may read boolean or integer compile-time values (masks), as torch tensors
    reads_row_ids: bool = False  # reads an input's integer row ids at run time (an embedding's indices)


REGISTRY: dict[object, OpEntry] = {}


def register(*targets, check=None, layout=False, takes_constants=False, reads_row_ids=False):
    def wrap(fn):
        for t in targets:
            REGISTRY[t] = OpEntry(fn, check, layout, takes_constants, reads_row_ids)
        return fn

    return wrap


def unsupported_reason(node, folded: dict | None = None) -> str | None:
    """Why this call_function node cannot run on Atalla, or None if it can. `folded`: node -> value
    of the nodes computed at compile time (compiler.fold)."""
    folded = folded or {}
    entry = REGISTRY.get(node.target)
    if entry is None:
        return f"no Atalla kernel for {node.target}"
    # Integers that are not compile-time values are an input's row ids: views pass them on, an
    # embedding reads them (DRAM holds them as int32); nothing else computes with them.
    ints_ok = entry.layout or entry.reads_row_ids
    for v in _tensor_metas(node, skip=folded if entry.takes_constants else ()):
        if v.dtype != torch.float32 and not (ints_ok and v.dtype in ROW_ID_DTYPES):
            return f"{v.dtype} tensors are not supported on Atalla"
        if v.numel() == 0:
            return "zero-size tensors are not supported on Atalla"
    if entry.check is not None:
        args, kwargs = node.args, node.kwargs
        if entry.takes_constants:  # the check sees what the lowering gets: compile-time values as tensors
            args, kwargs = torch.fx.node.map_arg((args, kwargs), lambda a: folded.get(a, a))
        return entry.check(node, *args, **kwargs)
    return None


def _tensor_metas(node, skip=()):
    metas = [a.meta.get("val") for a in node.all_input_nodes if a not in skip] + [node.meta.get("val")]
    out = []
    for m in metas:
        out.extend(m if isinstance(m, (tuple, list)) else [m])
    # A result of a tuple no one reads is never in DRAM (max_pool2d_with_indices' int64 indices).
    unread = {id(m) for m in _unread_results(node)}
    return [m for m in out if isinstance(m, torch.Tensor) and id(m) not in unread]


def _unread_results(node) -> list:
    val = node.meta.get("val")
    if not isinstance(val, (tuple, list)):
        return []
    read = {u.args[1] for u in node.users if u.target is operator.getitem}
    return [v for i, v in enumerate(val) if i not in read]


# -- layout ops: views ---------------------------------------------------------------------------
@register(aten.view.default, aten.reshape.default, aten._unsafe_view.default, layout=True)
def _reshape(ctx, node, x, shape):
    return ctx.reshape(x, shape)


@register(aten.flatten.using_ints, layout=True)
def _flatten(ctx, node, x, start_dim=0, end_dim=-1):
    return ctx.reshape(x, tuple(node.meta["val"].shape))


@register(aten.permute.default, layout=True)
def _permute(ctx, node, x, dims):
    return x.permute(dims)


@register(aten.transpose.int, layout=True)
def _transpose(ctx, node, x, d0, d1):
    return x.transpose(d0 % max(x.ndim, 1), d1 % max(x.ndim, 1))


@register(aten.t.default, layout=True)
def _t(ctx, node, x):
    return x.transpose(0, 1) if x.ndim == 2 else x


@register(aten.expand.default, layout=True)
def _expand(ctx, node, x, sizes, implicit=False):
    return x.expand(sizes)


@register(aten.unsqueeze.default, layout=True)
def _unsqueeze(ctx, node, x, dim):
    return x.unsqueeze(dim)


@register(aten.squeeze.dim, aten.squeeze.dims, aten.squeeze.default, layout=True)
def _squeeze(ctx, node, x, dims=None):
    return x.squeeze([dims] if isinstance(dims, int) else dims)


@register(aten.slice.Tensor, layout=True)
def _slice(ctx, node, x, dim=0, start=None, end=None, step=1):
    return x.slice(dim, 0 if start is None else start, x.shape[dim] if end is None else min(end, x.shape[dim]), step)


@register(aten.select.int, layout=True)
def _select(ctx, node, x, dim, index):
    return x.select(dim, index)


def _no_memory_format(node, x, *args, memory_format=None, **kwargs):
    fmt_ok = memory_format in (None, torch.contiguous_format, torch.preserve_format)
    return None if fmt_ok else f"memory_format {memory_format} is not supported"


@register(aten.clone.default, aten.contiguous.default, check=_no_memory_format, layout=True)
def _clone(ctx, node, x, memory_format=None):
    return x  # DRAM tensors are never written twice, so a clone may share its source


@register(aten.alias.default, aten.detach.default, aten.lift_fresh_copy.default, layout=True)
def _alias(ctx, node, x):
    return x


@register(aten.dropout.default, check=lambda node, x, p, train: "dropout in training mode" if train else None,
          layout=True)
def _dropout(ctx, node, x, p, train):
    return x


# -- matrix multiplication --------------------------------------------------------------------------
def _matmul(ctx, node, a: View, b: View, bias: View | None = None) -> View | None:
    """A Linear (or addmm) whose result only an activation reads computes the activation too, as
    the GEMM's epilogue: the activation node takes the result (Lowering.fused) and this node has
    no buffer of its own. So does one whose result only a residual add reads (_epilogue_residual)."""
    fused = _epilogue_activation(ctx, node)
    if fused is None:
        a2 = a.reshape((-1, a.shape[-1]))
        one_kernel = b.ndim == 2 and (bias is None or bias.ndim <= 1) and a2 is not None
        residual = _epilogue_residual(ctx, node) if one_kernel else None
        if residual is not None:
            b2 = ctx.contiguous_constant(b)
            bias2 = bias.broadcast_to((a2.shape[0], b2.shape[1])) if bias is not None else None
            try:
                planned = gemm_kernel.plan(ctx.em, a2, b2, bias2, residual.epilogue, 1)
            except CompileError:  # the residual's tiles do not fit beside the GEMM's: the add on its own
                planned = None
            if planned is None or not residual.pays(ctx.config, planned.output_tiles):
                residual = None
        if residual is None:
            return _matmul_into(ctx, ctx.output(node), a, b, bias)
        ctx.fused.update(dict.fromkeys(residual.between))  # views of a result with no buffer: nothing reads them
        ctx.fused[residual.add] = _matmul_into(ctx, ctx.output(residual.add), a, b, bias, residual.epilogue,
                                               epilogue_operands=(residual.operand,), planned=planned)
        return None
    user, name = fused
    if not _mlp(ctx, a, b, bias, user, activations.ACTIVATIONS[name]):
        ctx.fused[user] = _matmul_into(ctx, ctx.output(user), a, b, bias, activations.ACTIVATIONS[name])
    return None


# What may stand between a GEMM and the residual add that reads its result: a view that keeps the
# elements' order, or an identity (dropout in eval mode, as Hugging Face's blocks have).
_PASS_THROUGH = (aten.view.default, aten.reshape.default, aten._unsafe_view.default, aten.dropout.default,
                 aten.clone.default, aten.contiguous.default, aten.alias.default, aten.detach.default)


@dataclass(frozen=True)
class _Residual:
    add: torch.fx.Node
    between: list  # the pass-through nodes from the GEMM's node to the add
    operand: View  # the tensor added, in the GEMM's 2-D shape
    gemm_first: bool  # the GEMM's result is the add's first operand

    def pays(self, cfg: HardwareConfig, tiles: int) -> bool:
        """Whether an epilogue over `tiles` output tiles costs less than the add on its own: each
        tile's operand load is a firmware call more, which tiny GEMMs cannot hide (Hugging Face's
        small GPT-2 on the small config ran 291 cycles an add slower fused)."""
        return tiles * cfg.fw_dma_cycles < ew.estimated_cycles(cfg, *self.operand.shape, operands=2)

    @property
    def epilogue(self) -> tuple[Emit, int]:
        """The add as a GEMM epilogue (no fp32 temps): the operand's tile comes first among the temps."""

        def add_residual(em, dst, src, temps, rows, cols):
            first, second = (src, temps[0]) if self.gemm_first else (temps[0], src)
            em.vec(VecFunc.ADD, dst, first, second, rows=rows, cols=cols)

        return add_residual, 0


def _epilogue_residual(ctx, node) -> _Residual | None:
    """The add that alone reads node's result (a GEMM's, through views that keep its order), on
    Atalla, of a tensor of its shape already computed (a transformer's residual). The epilogue's ADD
    is the one the add's own kernel runs (bf16 operands, in the graph's order), so the bits are the
    same; it runs beside the next tile's GEMMs instead of after them all."""
    between, result = [], node
    while len(result.users) == 1:
        (user,) = result.users
        if user.op != "call_function" or user.target not in _PASS_THROUGH or not ctx.on_atalla(user) \
                or user.args[0] is not result:
            break
        between.append(user)
        result = user
    if len(result.users) != 1:
        return None
    (add,) = result.users
    if (add.op != "call_function" or add.target is not aten.add.Tensor or not ctx.on_atalla(add)
            or add.kwargs.get("alpha", 1) != 1 or len(add.args) != 2 or add.args[0] is add.args[1]):
        return None
    other = add.args[1] if add.args[0] is result else add.args[0]
    value = ctx.values.get(other) if isinstance(other, torch.fx.Node) else None
    shape = tuple(add.meta["val"].shape)
    if not isinstance(value, View) or tuple(value.shape) != shape or tuple(result.meta["val"].shape) != shape:
        return None
    gemm_2d = (-1, node.meta["val"].shape[-1])
    operand, out = value.reshape(gemm_2d), ctx.output(add).reshape(gemm_2d)
    if operand is None or out is None:
        return None
    return _Residual(add, between, operand, add.args[0] is result)


def _mlp(ctx, x: View, w1: View, b1: View | None, act, epilogue) -> bool:
    """Linear, activation, Linear (a transformer's MLP) as one pipelined kernel (compiler/kernels/mlp.py),
    where the activation's result is read only by a Linear on Atalla whose weight and bias are
    constants: the activation and the second Linear take their results from it (Lowering.fused).
    False, with nothing emitted, where the shapes or the scratchpad do not allow it."""
    if len(act.users) != 1:
        return False
    (second,) = act.users
    if (second.op != "call_function" or second.target is not aten.linear.default or not ctx.on_atalla(second)
            or second.args[0] is not act or second.kwargs):
        return False
    params = [ctx.values.get(p) if isinstance(p, torch.fx.Node) else p for p in second.args[1:]]
    if not all(p is None or isinstance(p, View) and p.buffer.role == Role.CONSTANT for p in params) or params[0] is None:
        return False
    w2, b2 = ctx.contiguous_constant(params[0].transpose(0, 1)), params[1] if len(params) > 1 else None
    w1 = ctx.contiguous_constant(w1)
    if w1.ndim != 2 or w2.ndim != 2 or b1 is not None and b1.ndim > 1 or b2 is not None and b2.ndim > 1:
        return False
    x2 = x.reshape((-1, x.shape[-1]))
    if x2 is None:
        return False
    m, (n1, n2) = x2.shape[0], (w1.shape[1], w2.shape[1])
    b1_2d = b1.broadcast_to((m, n1)) if b1 is not None else None
    b2_2d = b2.broadcast_to((m, n2)) if b2 is not None else None
    residual = _epilogue_residual(ctx, second)  # the block's residual add, in the last step's stores
    plan = mlp_kernel.mlp_plan(ctx.em, x2, w1, b1_2d, epilogue[1], w2, b2_2d, residual is not None)
    if residual is not None and (plan is None or not residual.pays(ctx.config, mlp_kernel.output_tiles(plan, m, n2,
                                                                                                      ctx.config))):
        residual, plan = None, mlp_kernel.mlp_plan(ctx.em, x2, w1, b1_2d, epilogue[1], w2, b2_2d)
    if plan is None:
        return False
    hidden, out = ctx.output(act), ctx.output(residual.add if residual is not None else second)
    h2, o2 = hidden.reshape((m, n1)), out.reshape((m, n2))
    if h2 is None or o2 is None:
        return False
    mlp_kernel.mlp(ctx.em, plan, o2, h2, x2, w1, b1_2d, epilogue, w2, b2_2d,
                   (residual.operand, residual.gemm_first) if residual is not None else None)
    ctx.fused[act] = hidden
    if residual is not None:
        ctx.fused.update(dict.fromkeys([second, *residual.between]))
        ctx.fused[residual.add] = out
    else:
        ctx.fused[second] = out
    return True


# The activations a GEMM runs as its epilogue: target -> ACTIVATIONS name (gelu: by its approximate).
_EPILOGUES = {aten.tanh.default: "tanh", aten.sigmoid.default: "sigmoid", aten.silu.default: "silu",
              aten.gelu.default: "gelu"}


def _epilogue_activation(ctx, node) -> tuple[torch.fx.Node, str] | None:
    """The activation node that alone reads node's result and runs on Atalla, and its name."""
    if len(node.users) != 1:
        return None
    (user,) = node.users
    if user.op != "call_function" or user.target not in _EPILOGUES or not ctx.on_atalla(user) or user.args[0] is not node:
        return None
    name = _EPILOGUES[user.target]
    if user.target is aten.gelu.default:
        approximate = user.kwargs.get("approximate", user.args[1] if len(user.args) > 1 else "none")
        name = {"none": "gelu", "tanh": "gelu_tanh"}.get(approximate)
    return (user, name) if name is not None else None


def _matmul_into(ctx, out: View, a: View, b: View, bias: View | None = None, epilogue=None, beside=None,
                 epilogue_operands: tuple[View, ...] = (), planned: gemm_kernel.GemmPlan | None = None) -> View:
    """out = a[..., M, K] @ b[..., K, N] (+ bias broadcast to the result), batch dims broadcast;
    epilogue: an activation (activations.ACTIVATIONS entry) applied before the result is stored;
    beside: VEC commands of other work for a 2-D GEMM to place among its own (gemm_kernel.gemm);
    epilogue_operands: 2-D tensors the epilogue reads, of the 2-D GEMM's output shape (only that one);
    planned: gemm_kernel.plan() of that 2-D GEMM, if the caller has it."""
    b = ctx.contiguous_constant(b)  # weights: laid out for contiguous row loads
    (m, k), n = a.shape[-2:], b.shape[-1]
    batch = tuple(out.shape[:-2])
    if b.ndim == 2 and bias is None or (b.ndim == 2 and bias is not None and bias.ndim <= 1):
        # No batch on the weights: fold the batch into M when a's layout allows it.
        a2, o2 = a.reshape((-1, k)), out.reshape((-1, n))  # out may be a part of a joined buffer
        if a2 is not None and o2 is not None:
            bias2 = bias.broadcast_to(o2.shape) if bias is not None else None
            gemm_kernel.gemm(ctx.em, o2, a2, b, bias2, epilogue, beside, epilogue_operands, planned)
            return out
    if epilogue_operands:
        raise CompileError("an epilogue reading tensors needs the GEMM as one 2-D kernel")
    if beside:  # no single GEMM kernel to place them in: before the batch
        ctx.em.place(beside)
    a_e, b_e = a.broadcast_to(batch + (m, k)), b.broadcast_to(batch + (k, n))
    bias_e = bias.broadcast_to(out.shape) if bias is not None else None
    for index in product(*(range(d) for d in batch)):
        sel = lambda v: _select_all(v, index)  # noqa: E731
        gemm_kernel.gemm(ctx.em, sel(out), sel(a_e), sel(b_e), sel(bias_e) if bias_e is not None else None, epilogue)
    return out


def _select_all(v: View, index) -> View:
    for i in index:
        v = v.select(0, i)
    return v


def _needs_2d(node, a, b, *rest, **kwargs):
    ranks = [x.meta["val"].dim() for x in (a, b)]
    return None if min(ranks) >= 2 else "matmul of a 1-D operand"


@register(aten.matmul.default, aten.mm.default, aten.bmm.default, check=_needs_2d)
def _mm(ctx, node, a, b):
    return _matmul_into(ctx, _heads_inner_output(ctx, node), a, b)


@register(aten.linear.default, check=lambda node, x, w, b=None: None if x.meta["val"].dim() >= 2 else "linear of a 1-D input")
def _linear(ctx, node, x, w, b=None):
    return _matmul(ctx, node, x, w.transpose(0, 1), b)


def _addmm_check(node, bias, a, b, *, beta=1, alpha=1):
    return None if beta == 1 and alpha == 1 else f"addmm with beta={beta}, alpha={alpha}"


@register(aten.addmm.default, check=_addmm_check)
def _addmm(ctx, node, bias, a, b, *, beta=1, alpha=1):
    return _matmul(ctx, node, a, b, bias)


# -- elementwise --------------------------------------------------------------------------------------
def _alpha_one(node, a, b, alpha=1):
    if not isinstance(a, torch.fx.Node):
        return "the first operand is a scalar"
    return None if alpha == 1 else f"alpha={alpha}"


def _binary(func: VecFunc):
    def lower(ctx, node, a, b, alpha=1):
        out = ctx.output(node)
        ew.elementwise(ctx.em, func, out, a, b if isinstance(b, View) else float(b))
        return out

    return lower


def _tensor_first(node, a, b, **kwargs):
    return None if isinstance(a, torch.fx.Node) else "the first operand is a scalar"


register(aten.add.Tensor, aten.add.Scalar, check=_alpha_one)(_binary(VecFunc.ADD))
register(aten.sub.Tensor, aten.sub.Scalar, check=_alpha_one)(_binary(VecFunc.SUB))
register(aten.mul.Tensor, aten.mul.Scalar, check=_tensor_first)(_binary(VecFunc.MUL))
register(aten.div.Tensor, aten.div.Scalar, check=_tensor_first)(_binary(VecFunc.DIV))


def _unary(func: VecFunc):
    """A one-VEC elementwise function of x."""

    def lower(ctx, node, x):
        out = ctx.output(node)
        ew.elementwise(ctx.em, func, out, x)
        return out

    return lower


register(aten.relu.default)(_unary(VecFunc.RELU))


@register(aten.exp.default)
def _exp(ctx, node, x):
    out = ctx.output(node)
    exp_kernel.exp(ctx.em, out, x)
    return out


# -- softmax --------------------------------------------------------------------------------------------
def _softmax_check(node, x, dim, flag_or_dtype=None):
    ok = flag_or_dtype in (None, False, torch.float32)
    return None if ok else f"softmax with {flag_or_dtype}"


@register(aten.softmax.int, aten._softmax.default, check=_softmax_check)
def _softmax(ctx, node, x, dim, flag_or_dtype=None):
    out = ctx.output(node)
    dim %= max(x.ndim, 1)
    last = lambda v: v.permute([d for d in range(v.ndim) if d != dim] + [dim])  # noqa: E731
    if x.ndim == 0:
        raise ValueError("softmax of a 0-d tensor")
    softmax_kernel.softmax_lastdim(ctx.em, last(out), last(x))
    return out


# -- attention and compile-time masks ------------------------------------------------------------------
# Masks known at compile time (compiler.fold) arrive here as torch tensors (takes_constants) and
# become bf16 constants: a boolean mask an additive one (0 / -inf), a masked_fill or a where with
# a constant side x * keep + fill, exact for finite x.
def _intermediate(ctx, name: str, shape) -> View:
    return View.of(ctx.new_buffer(name, shape, Role.INTERMEDIATE))


def _as_view(ctx, name: str, value) -> View:
    return ctx.constant(name, value) if isinstance(value, torch.Tensor) else value


def _sdpa_check(node, q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, *, scale=None, enable_gqa=False):
    if dropout_p != 0.0:
        return f"attention dropout p={dropout_p}"
    if enable_gqa:
        return "grouped-query attention (enable_gqa)"
    if is_causal and attn_mask is not None:
        return "is_causal together with attn_mask"
    ranks = [(t.meta["val"] if isinstance(t, torch.fx.Node) else t).dim() for t in (q, k, v)]
    return None if min(ranks) >= 2 else "attention on 1-D operands"


@register(aten.scaled_dot_product_attention.default, check=_sdpa_check, takes_constants=True)
def _sdpa(ctx, node, q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, *, scale=None, enable_gqa=False):
    """softmax(q @ k^T * scale + mask) @ v, by the same kernels in the same order as the hand-written form."""
    q, k, v = (_as_view(ctx, f"{node.name}_{n}", t) for n, t in (("q", q), ("k", k), ("v", v)))
    length, source_length = q.shape[-2], k.shape[-2]
    out = _heads_inner_output(ctx, node)
    scores_shape = tuple(out.shape[:-1]) + (source_length,)
    if is_causal:
        attn_mask = torch.ones(length, source_length, dtype=torch.bool).tril()
    row_keep = known_inf = known_zero = None
    if isinstance(attn_mask, torch.Tensor):
        if attn_mask.dtype == torch.bool:
            attn_mask = torch.where(attn_mask, 0.0, -math.inf)
        # Rows masked whole come out 0 in torch's sdpa, not the NaN of -inf - -inf: unmask them and
        # zero those rows of the result. Finite values are clamped to bf16's range, which fp32's
        # most negative ones (finfo.min, a common mask value) would leave for -inf.
        dead = torch.isneginf(attn_mask).all(-1, keepdim=True)
        row_keep = (~dead).to(torch.float32) if dead.any() else None
        attn_mask = attn_mask.masked_fill(dead, 0.0)
        attn_mask = torch.where(attn_mask.isinf(), attn_mask, attn_mask.clamp(min=-torch.finfo(torch.bfloat16).max))
        known_inf = _lane_tiles_where(attn_mask, ctx.config.lanes, torch.isneginf)
        known_zero = _lane_tiles_where(attn_mask, ctx.config.lanes, lambda t: t == 0)
        attn_mask = ctx.constant(f"{node.name}_mask", attn_mask)
    attended = out if row_keep is None else _intermediate(ctx, f"{node.name}_attended", out.shape)
    factor = 1 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    # Head by head (every batch index) when a head holds more k elements than the firmware takes
    # cycles for two ALLOC/FREE pairs and about five DMA calls (on small heads, as the zoo's mha has,
    # the calls cost more than the overlap gives); else all heads at once. Head by head the scores
    # stay in the scratchpad (attention_kernel) where a head's working set fits and the mask, if
    # any, is the same for every head; else they go through DRAM (_sdpa_through_dram).
    batch = scores_shape[:-2]
    q_e, kt_e, v_e = (t.broadcast_to(batch + tuple(t.shape[-2:])) for t in (q, k.transpose(k.ndim - 2, k.ndim - 1), v))
    mask_e = attn_mask.broadcast_to(scores_shape) if attn_mask is not None else None
    cfg = ctx.config
    per_head_calls = 2 * (cfg.fw_alloc_cycles + cfg.fw_free_cycles) + 5 * cfg.fw_dma_cycles
    heads = list(product(*(range(d) for d in batch)))
    if len(heads) == 1 or source_length * q.shape[-1] <= per_head_calls:
        heads = [()]  # _select_all of no index: the whole tensors
    zeros = ctx.constant(f"{node.name}_zeros", torch.zeros(cfg.lanes)) if known_inf is not None else None
    one_mask = mask_e is None or known_inf is not None and not any(
        stride for stride, size in zip(mask_e.strides[:-2], mask_e.shape[:-2]) if size > 1)
    if heads != [()] and one_mask and attention_kernel.fits(ctx.em, length, source_length, q.shape[-1],
                                                            v.shape[-1], mask_e is not None):
        attention_kernel.attention(
            ctx.em, *([_select_all(t, i) for i in heads] for t in (attended, q_e, kt_e, v_e)), factor, known_inf,
            zeros, _select_all(mask_e, heads[0]) if mask_e is not None else None, known_zero)
    else:
        _sdpa_through_dram(ctx, node.name, attended, q_e, kt_e, v_e, mask_e, heads, factor, known_inf, known_zero,
                           zeros)
    if row_keep is not None:
        ew.elementwise(ctx.em, VecFunc.MUL, out, attended, ctx.constant(f"{node.name}_rows", row_keep))
    return out


def _sdpa_through_dram(ctx, name: str, attended: View, q_e: View, kt_e: View, v_e: View, mask_e: View | None, heads,
                       factor: float, known_inf, known_zero, zeros: View | None) -> None:
    """The attention as a q @ k^T GEMM (the scale its epilogue: the bits of a pass of its own over
    the bf16 scores), a softmax (the mask added as its first step) and an @ v GEMM, each through
    DRAM: head by head (heads: their batch indices) the softmax of one beside the next one's
    q @ k^T, or (heads [()]) each step over all heads at once, the mask a pass of its own."""
    scores_shape = tuple(attended.shape[:-1]) + (kt_e.shape[-1],)
    scaled = _intermediate(ctx, f"{name}_scaled", scores_shape)
    weights = _intermediate(ctx, f"{name}_weights", scores_shape)
    mask_pass = mask_e is not None and heads == [()]
    masked = _intermediate(ctx, f"{name}_masked", scores_shape) if mask_pass else scaled

    def scale_by_factor(em, dst, src, temps, rows, cols) -> None:  # a pointwise Emit
        em.vec(VecFunc.MUL, dst, src, factor, rows=rows, cols=cols)

    def head_scores(i, beside=None) -> None:
        _matmul_into(ctx, _select_all(scaled, i), _select_all(q_e, i), _select_all(kt_e, i),
                     epilogue=(scale_by_factor, 0), beside=beside)

    def head_masked(i) -> None:
        if mask_pass:
            ew.elementwise(ctx.em, VecFunc.ADD, _select_all(masked, i), _select_all(scaled, i), _select_all(mask_e, i))

    head_scores(heads[0])
    head_masked(heads[0])
    for n, i in enumerate(heads):
        blocks = softmax_kernel.softmax_blocks(
            ctx.em, _select_all(weights, i), _select_all(masked, i), known_inf, zeros,
            *((_select_all(mask_e, i), known_zero) if mask_e is not None and not mask_pass else ()))
        first = next(blocks, [])
        if n + 1 < len(heads):
            head_scores(heads[n + 1], beside=first)
        else:
            ctx.em.place(first)
        for body in blocks:
            ctx.em.place(body)
        if n + 1 < len(heads):
            head_masked(heads[n + 1])
        _matmul_into(ctx, _select_all(attended, i), _select_all(weights, i), _select_all(v_e, i))


def _lane_tiles_where(mask: torch.Tensor, lanes: int, test) -> np.ndarray | None:
    """Per row of a mask the same for every head, per lane-wide column tile: does test hold
    throughout (-inf: the softmax need not compute there; 0: it need not add the mask there;
    softmax_kernel.softmax_blocks). None for a mask per head."""
    while mask.dim() > 2 and mask.shape[0] == 1:
        mask = mask[0]
    if mask.dim() != 2:
        return None
    tiles = [test(mask[:, c0 : c0 + lanes]).all(-1) for c0 in range(0, mask.shape[-1], lanes)]
    return torch.stack(tiles, -1).numpy()


def _heads_inner_output(ctx, node) -> View:
    """The result buffer of an attention (or a batched matmul), laid out heads-inner ([batch, seq,
    heads, dim]) when the result is only read through transpose(1, 2) (the heads joined back, as
    multi-head attention does): the GEMMs then store each head in place and the reshape that
    follows is a view, not a copy."""
    shape = tuple(node.meta["val"].shape)
    user = node
    while len(shape) == 4 and len(user.users) == 1:
        user = next(iter(user.users))
        dims = (user.args[1:3] if user.target == aten.transpose.int else
                user.args[1] if user.target == aten.permute.default else None)
        same_shape = user.target in (aten.view.default, aten.reshape.default) and tuple(user.meta["val"].shape) == shape
        if dims is not None and [d % 4 for d in dims] in ([1, 2], [2, 1], [0, 2, 1, 3]):
            heads_inner = (shape[0], shape[2], shape[1], shape[3])
            return View.of(ctx.new_buffer(node.name, heads_inner, Role.INTERMEDIATE)).transpose(1, 2)
        if not same_shape:
            break
    return ctx.output(node)


def _select(ctx, node, x: View, keep: torch.Tensor, other) -> View:
    """keep ? x : other, for a compile-time boolean `keep` and a compile-time `other`: x * keep + fill."""
    other = other if isinstance(other, torch.Tensor) else torch.tensor(float(other))
    kept = _intermediate(ctx, f"{node.name}_kept", node.meta["val"].shape)
    ew.elementwise(ctx.em, VecFunc.MUL, kept, x, ctx.constant(f"{node.name}_keep", keep.to(torch.float32)))
    out = ctx.output(node)
    ew.elementwise(ctx.em, VecFunc.ADD, out, kept, ctx.constant(f"{node.name}_fill", torch.where(keep, 0.0, other)))
    return out


# A run-time (boolean) mask or condition is refused by the dtype check: those fall back to the host.
def _fill_check(node, x, mask, value):
    return "masked_fill with a fill value known only at run time" if isinstance(value, torch.fx.Node) else None


@register(aten.masked_fill.Scalar, aten.masked_fill.Tensor, check=_fill_check, takes_constants=True)
def _masked_fill(ctx, node, x, mask, value):
    return _select(ctx, node, x, ~mask, value)


def _where_check(node, cond, a, b):
    runtime = sum(isinstance(t, torch.fx.Node) for t in (a, b))
    return None if runtime == 1 else "where with both values known only at run time"


@register(aten.where.self, aten.where.ScalarSelf, aten.where.ScalarOther, check=_where_check, takes_constants=True)
def _where(ctx, node, cond, a, b):
    if isinstance(a, View):
        return _select(ctx, node, a, cond, b)
    return _select(ctx, node, b, ~cond, a)


def _cast_check(node, x, *args, **kwargs):
    src, dst = x.meta["val"].dtype, node.meta["val"].dtype
    if src == dst or (src in ROW_ID_DTYPES and dst in ROW_ID_DTYPES):
        return None
    return f"a cast from {src} to {dst} changes the values"


# A cast of a float32 tensor to float32 (what a model's "compute in fp32" casts are here), or of
# row ids to another integer type, is the tensor itself; any other cast falls back.
@register(aten.to.dtype, aten.to.dtype_layout, aten._to_copy.default, check=_cast_check, layout=True)
def _same_dtype_cast(ctx, node, x, *args, **kwargs):
    return x


@register(aten._assert_tensor_metadata.default, layout=True)
def _metadata_assert(ctx, node, x, *args, **kwargs):
    return None  # torch.export checked it: the program's shapes and dtypes are static


# -- splitting and joining ----------------------------------------------------------------------------
# A split is views of its input. A cat or stack has one buffer: a part computed on Atalla for it
# alone is written there in place (join_place); any other part is copied into its place by DMA.
JOINS = (aten.cat.default, aten.stack.default)


def _join_part(join, out: View, index: int) -> View:
    """Part `index` of the join's inputs as a view of the join's result `out`."""
    parts = join.args[0]
    dim = (join.args[1] if len(join.args) > 1 else join.kwargs.get("dim", 0)) % out.ndim
    if join.target == aten.stack.default:
        return out.select(dim, index)
    start = sum(p.meta["val"].shape[dim] for p in parts[:index])
    return out.slice(dim, start, start + parts[index].meta["val"].shape[dim], 1)


def join_place(ctx, node) -> View | None:
    """The node's part of a cat's or stack's buffer, when that join (on Atalla) is its only reader."""
    if len(node.users) != 1:
        return None
    join = next(iter(node.users))
    if join.target not in JOINS or not ctx.on_atalla(join):
        return None
    return _join_part(join, ctx.output(join), join.args[0].index(node))


@register(aten.split.Tensor, aten.split_with_sizes.default, aten.chunk.default, layout=True)
def _split(ctx, node, x, _sizes_or_chunks, dim=0):
    dim %= x.ndim
    parts, start = [], 0
    for part in node.meta["val"]:  # the sizes torch chose (chunk's last part may be short)
        parts.append(x.slice(dim, start, start + part.shape[dim], 1))
        start += part.shape[dim]
    return tuple(parts)


@register(aten.unbind.int, layout=True)
def _unbind(ctx, node, x, dim=0):
    return tuple(x.select(dim, i) for i in range(x.shape[dim % x.ndim]))


@register(*JOINS)
def _join(ctx, node, tensors, dim=0):
    out = ctx.output(node)
    for i, part in enumerate(tensors):
        place = _join_part(node, out, i)
        if not (part.buffer is out.buffer and part == place):  # not already written in place
            copy_kernel.copy(ctx.em, place, part)
    return out


def _embedding_check(node, weight, indices, padding_idx=-1, scale_grad_by_freq=False, sparse=False):
    if indices.meta["val"].dtype not in ROW_ID_DTYPES:
        return f"row ids of dtype {indices.meta['val'].dtype}"
    return None


@register(aten.embedding.default, check=_embedding_check, reads_row_ids=True)
def _embedding(ctx, node, weight, indices, padding_idx=-1, scale_grad_by_freq=False, sparse=False):
    """padding_idx and the rest change only the gradient; the lookup is table rows by id."""
    if weight.ndim != 2:
        raise CompileError(f"embedding table of shape {list(weight.shape)} is not 2-D")
    table = ctx.contiguous_constant(weight) if weight.strides[-1] != 1 else weight
    if table.strides[-1] != 1:
        table = ctx.materialize(table, f"{node.name}_table")
    row_ids = ctx.reshape(indices, (-1,))
    if row_ids.numel > 1 and row_ids.strides != (1,):
        raise CompileError(f"the row ids {node.args[1].name} are not contiguous in DRAM")
    ctx.bound_row_ids(row_ids, table.shape[0], node)
    out = ctx.output(node)
    flat = out.reshape((-1, table.shape[1]))
    in_place = flat is not None and flat.strides == (table.shape[1], 1)
    if not in_place:  # out is a strided part of a joined buffer: gather apart, then copy into it
        flat = View.of(ctx.new_buffer(f"{node.name}_rows", (row_ids.numel, table.shape[1]), Role.INTERMEDIATE))
    gather_kernel.embedding(ctx.em, flat, table, row_ids)
    if not in_place:
        materialize(ctx, out, flat.reshape(out.shape))
    return out


def materialize(ctx, out: View, src: View) -> None:
    copy_kernel.copy(ctx.em, out, src)


PASSTHROUGH = {operator.getitem}


# -- normalisation, reductions over one dim and activations (compiler/kernels/rownorm.py, activations.py) --
register(aten.sqrt.default)(_unary(VecFunc.SQRT))


@register(aten.rsqrt.default)
def _rsqrt(ctx, node, x):
    """DIV(1, SQRT(x)): a VEC's a operand is a tile, so the ones are a one-element constant, broadcast."""
    out = ctx.output(node)
    one = ctx.constant(f"{node.name}.one", torch.ones(1))
    pointwise(ctx.em, out, x, activations.emit_rsqrt, fp32_temps=1, operands=(one,))
    return out


@register(aten.neg.default)
def _neg(ctx, node, x):
    out = ctx.output(node)
    ew.elementwise(ctx.em, VecFunc.MUL, out, x, -1.0)  # exact, and -(+0) = -0, which 0 - x would not give
    return out


def _pow_check(node, x, exponent):
    integral = isinstance(exponent, (int, float)) and float(exponent).is_integer()
    return None if integral and 2 <= exponent <= MAX_POWER else f"pow by {exponent} (integers 2..{MAX_POWER} only)"


@register(aten.pow.Tensor_Scalar, check=_pow_check)
def _power(ctx, node, x, exponent):
    out = ctx.output(node)
    if exponent == 2:  # one MUL, rounded to bf16 once
        ew.elementwise(ctx.em, VecFunc.MUL, out, x, x)
    else:
        activations.power(ctx.em, int(exponent), out, x)
    return out


def _activation(name: str):
    def lower(ctx, node, x):
        out = ctx.output(node)
        activations.activation(ctx.em, name, out, x)
        return out

    return lower


register(aten.tanh.default)(_activation("tanh"))
register(aten.sigmoid.default)(_activation("sigmoid"))
register(aten.silu.default)(_activation("silu"))


def _reduced_dim(node, x, dim=None, *rest, dtype=None, **kwargs) -> str | None:
    """Why this reduction is not over one or more named dims of a float32 result, or None."""
    if dtype not in (None, torch.float32):
        return f"{node.target} with dtype {dtype}"
    dims = [dim] if isinstance(dim, int) else list(dim or [])
    ndim = x.meta["val"].dim()
    if not dims or ndim == 0:
        return f"{node.target} over dims {dim}: name the dims"
    return None if len({d % ndim for d in dims}) == len(dims) else f"{node.target} over dims {dim}: a dim twice"


def _correction(node, x, dim=None, *, correction=None, keepdim=False):
    reason = _reduced_dim(node, x, dim)
    if reason is None and correction is not None and correction != int(correction):
        return f"var with correction {correction}"
    return reason


def _reduce(ctx, node, x: View, dim, keepdim: bool, stat: str, correction: int = 0) -> View:
    """stat over some dims: they are permuted last and merged into one (in their order: the sum's
    order, docs/numerics.md), and the result viewed with those dims kept (size 1)."""
    out = ctx.output(node)
    dims = sorted({d % x.ndim for d in ([dim] if isinstance(dim, int) else dim)})
    kept = out
    if not keepdim:
        for d in dims:
            kept = kept.unsqueeze(d)
    order = [i for i in range(x.ndim) if i not in dims] + dims
    lead = tuple(x.shape[i] for i in order[: x.ndim - len(dims)])
    rows = ctx.reshape(x.permute(order), lead + (math.prod(x.shape[d] for d in dims),))
    rownorm.row_stat(ctx.em, stat, kept.permute(order).reshape(lead + (1,)), rows, correction)
    return out


@register(aten.sum.dim_IntList, check=_reduced_dim)
def _sum(ctx, node, x, dim, keepdim=False, *, dtype=None):
    return _reduce(ctx, node, x, dim, keepdim, "sum")


@register(aten.mean.dim, check=_reduced_dim)
def _mean(ctx, node, x, dim, keepdim=False, *, dtype=None):
    return _reduce(ctx, node, x, dim, keepdim, "mean")


def _whole_tensor(node, x, *, dtype=None):
    if dtype not in (None, torch.float32):
        return f"{node.target} with dtype {dtype}"
    return None if x.meta["val"].dim() > 0 else f"{node.target} of a 0-dim tensor"


@register(aten.sum.default, check=_whole_tensor)
def _sum_all(ctx, node, x, *, dtype=None):
    return _reduce(ctx, node, x, list(range(x.ndim)), False, "sum")


@register(aten.mean.default, check=_whole_tensor)
def _mean_all(ctx, node, x, *, dtype=None):
    return _reduce(ctx, node, x, list(range(x.ndim)), False, "mean")


@register(aten.var.correction, check=_correction)
def _var(ctx, node, x, dim=None, *, correction=None, keepdim=False):
    return _reduce(ctx, node, x, dim, keepdim, "var", 1 if correction is None else int(correction))


@register(aten.var.dim, check=_reduced_dim)
def _var_unbiased(ctx, node, x, dim, unbiased=True, keepdim=False):
    return _reduce(ctx, node, x, dim, keepdim, "var", int(unbiased))


def _layer_norm_check(node, x, normalized_shape, *rest, **kwargs):
    if len(normalized_shape) != 1:
        return f"layer norm over {len(normalized_shape)} dims: only the last one"
    if node.target == aten.native_layer_norm.default and any(
            u.target is not operator.getitem or u.args[1] != 0 for u in node.users):
        return "native_layer_norm whose mean or rstd is used"
    return None


@register(aten.layer_norm.default, aten.native_layer_norm.default, check=_layer_norm_check)
def _layer_norm(ctx, node, x, normalized_shape, weight=None, bias=None, eps=1e-5, cudnn_enable=True):
    native = node.target == aten.native_layer_norm.default
    shape = node.meta["val"][0].shape if native else node.meta["val"].shape
    out = View.of(ctx.new_buffer(node.name, shape, Role.INTERMEDIATE))
    rownorm.layer_norm(ctx.em, out, x, weight, bias, float(eps))
    return (out,) if native else out  # native: only its output is read (the check says so)


@register(aten.gelu.default, check=lambda node, x, approximate="none": None if approximate in ("none", "tanh")
          else f"gelu with approximate={approximate!r}")
def _gelu(ctx, node, x, approximate="none"):
    return _activation("gelu_tanh" if approximate == "tanh" else "gelu")(ctx, node, x)


# -- convolution and pooling over NCHW images (compiler/kernels/conv.py, pool.py, window.py) --------------
def _pair(v) -> tuple[int, int]:
    v = [v] if isinstance(v, int) else list(v)
    return (v[0], v[0]) if len(v) == 1 else (v[0], v[1])


def _conv_check(node, x, weight, bias=None, stride=1, padding=0, dilation=1, *rest) -> str | None:
    if node.target == aten.convolution.default:
        transposed, _, groups = rest
        if transposed:
            return "transposed convolution"
    else:
        groups = rest[0] if rest else node.kwargs.get("groups", 1)
    if x.meta["val"].dim() != 4:
        return f"convolution of a {x.meta['val'].dim()}-d input: only batched 2-D (N, C, H, W)"
    channels = x.meta["val"].shape[1]
    return None if groups in (1, channels) else \
        f"convolution with groups={groups}: only 1 or the input channels ({channels}, depthwise)"


@register(aten.conv2d.default, aten.convolution.default, check=_conv_check)
def _conv2d(ctx, node, x, weight, bias=None, stride=1, padding=0, dilation=1, *rest, groups=1):
    out = ctx.output(node)
    folded = _batch_norm_fold(ctx, node)
    if folded is not None:  # the batch norm after it, folded into its weights and bias at compile time
        weight, bias = (ctx.constant(f"{node.name}.{what}_bn", t) for what, t in zip(("weight", "bias"), folded))
    depthwise = weight.shape[1] == 1 and x.shape[1] > 1  # groups = Cin (the check allows only that or 1)
    kernel = conv_kernel.depthwise_conv2d if depthwise else conv_kernel.conv2d
    kernel(ctx, out, x, weight, bias, _pair(stride), _pair(padding), _pair(dilation), node.name)
    return out


# -- batch norm in eval mode: folded into the conv before it, else a per-channel scale and shift ------------
CONVOLUTIONS = (aten.conv2d.default, aten.convolution.default)


def _batch_norm_params(node) -> tuple | None:
    """(weight, bias, running_mean, running_var, eps) of an eval-mode batch norm node, or None."""
    if node.target == aten.batch_norm.default:
        _, weight, bias, mean, var, training, _, eps, _ = node.args
        return None if training else (weight, bias, mean, var, eps)
    if node.target == aten._native_batch_norm_legit_no_training.default:
        _, weight, bias, mean, var, _, eps = node.args
        return weight, bias, mean, var, eps
    return None


def _batch_norm_check(node, x, *args) -> str | None:
    if _batch_norm_params(node) is None:
        return "batch norm in training mode"
    if node.target != aten.batch_norm.default and any(
            u.target is not operator.getitem or u.args[1] != 0 for u in node.users):
        return f"{node.target} whose saved statistics are used"
    return None if x.meta["val"].dim() >= 2 else "batch norm of a 1-d input"


def _scale_shift(ctx, bn) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Per channel, the batch norm as x * scale + shift (fp32, from the model's own values), or None
    when its statistics or affine parameters are not constants."""
    weight, bias, mean, var, eps = _batch_norm_params(bn)
    mean_v, var_v = ctx.constant_value(mean), ctx.constant_value(var)
    if mean_v is None or var_v is None:
        return None
    weight_v = torch.ones_like(mean_v) if weight is None else ctx.constant_value(weight)
    bias_v = torch.zeros_like(mean_v) if bias is None else ctx.constant_value(bias)
    if weight_v is None or bias_v is None:
        return None
    scale = weight_v / torch.sqrt(var_v + eps)
    return scale, bias_v - mean_v * scale


def _batch_norm_fold(ctx, conv) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(weight, bias) of the conv with the batch norm that is its only user folded in, or None when
    there is none or it cannot fold (its parameters or the conv's are not constants)."""
    users = list(conv.users)
    if len(users) != 1 or _batch_norm_params(users[0]) is None or unsupported_reason(conv) is not None:
        return None  # (a conv on the host computes the unfolded one)
    weight, bias = conv.args[1], conv.args[2] if len(conv.args) > 2 else None
    weight_v = ctx.constant_value(weight)
    if weight_v is None:
        return None
    bias_v = torch.zeros(weight_v.shape[0]) if bias is None else ctx.constant_value(bias)
    scale_shift = _scale_shift(ctx, users[0])
    if bias_v is None or scale_shift is None:
        return None
    scale, shift = scale_shift
    return weight_v * scale.view(-1, 1, 1, 1), bias_v * scale + shift


def _emit_scale_shift(em, dst, src, temps, rows, cols) -> None:
    scale, shift, acc = temps
    em.vec(VecFunc.MUL, acc, src, scale, rows=rows, cols=cols)
    em.vec(VecFunc.ADD, dst, acc, shift, rows=rows, cols=cols)


@register(aten.batch_norm.default, aten._native_batch_norm_legit_no_training.default, check=_batch_norm_check)
def _batch_norm(ctx, node, x, *args):
    native = node.target != aten.batch_norm.default
    source = node.args[0]
    if source.target in CONVOLUTIONS and _batch_norm_fold(ctx, source) is not None:
        out = x  # the conv computed it
    else:
        scale_shift = _scale_shift(ctx, node)
        if scale_shift is None:
            raise CompileError("batch norm whose statistics or affine parameters are not constants")
        out = ctx.output(node) if not native else View.of(ctx.new_buffer(node.name, node.meta["val"][0].shape,
                                                                           Role.INTERMEDIATE))
        channel = [x.shape[1]] + [1] * (x.ndim - 2)
        operands = tuple(ctx.constant(f"{node.name}.{what}", t.reshape(channel))
                         for what, t in zip(("scale", "shift"), scale_shift))
        pointwise(ctx.em, out, x, _emit_scale_shift, fp32_temps=1, operands=operands)
    return (out, None, None) if native else out


def _pool_input(node, x) -> str | None:
    dims = x.meta["val"].dim()
    return None if dims in (3, 4) else f"{node.target} of a {dims}-d input: only (N, C, H, W) or (C, H, W)"


def _max_pool_check(node, x, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False) -> str | None:
    if _pair(dilation) != (1, 1):
        return f"max_pool2d with dilation {list(_pair(dilation))}: only 1"
    if ceil_mode:
        return "max_pool2d with ceil_mode=True"
    return _pool_input(node, x)  # used indices are int64: refused before the check


def _avg_pool_check(node, x, kernel_size, stride=(), padding=0, ceil_mode=False, count_include_pad=True,
                    divisor_override=None) -> str | None:
    if ceil_mode:
        return "avg_pool2d with ceil_mode=True"
    if not count_include_pad and _pair(padding) != (0, 0):
        return "avg_pool2d with padding and count_include_pad=False"
    if divisor_override is not None:
        return f"avg_pool2d with divisor_override={divisor_override}"
    return _pool_input(node, x)


def _pool(ctx, node, kind: str, x, kernel_size, stride, padding):
    val = node.meta["val"]
    indices = isinstance(val, (tuple, list))  # max_pool2d_with_indices: unread, or it would be on the host
    out = View.of(ctx.new_buffer(node.name, (val[0] if indices else val).shape, Role.INTERMEDIATE))
    kernel = _pair(kernel_size)
    pool_kernel.pool2d(ctx, kind, out, x, kernel, _pair(stride or kernel), _pair(padding), node.name)
    return (out, None) if indices else out


@register(aten.max_pool2d.default, aten.max_pool2d_with_indices.default, check=_max_pool_check)
def _max_pool2d(ctx, node, x, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    return _pool(ctx, node, "max", x, kernel_size, stride, padding)


@register(aten.avg_pool2d.default, check=_avg_pool_check)
def _avg_pool2d(ctx, node, x, kernel_size, stride=(), padding=0, ceil_mode=False, count_include_pad=True,
                divisor_override=None):
    return _pool(ctx, node, "avg", x, kernel_size, stride, padding)


def _adaptive_window(size, output_size) -> tuple[int, int] | None:
    """The window of an adaptive average pool from `size` (H, W) that is an exact average pool, or None."""
    (h, w), (ho, wo) = size, _pair(output_size)
    return (h // ho, w // wo) if h % ho == 0 and w % wo == 0 else None


def _adaptive_check(node, x, output_size) -> str | None:
    if _adaptive_window(x.meta["val"].shape[-2:], output_size) is None:
        return f"adaptive_avg_pool2d from {list(x.meta['val'].shape[-2:])} to {list(_pair(output_size))}: " \
               "not an exact average pool (the sizes do not divide)"
    return _pool_input(node, x)


@register(aten.adaptive_avg_pool2d.default, aten._adaptive_avg_pool2d.default, check=_adaptive_check)
def _adaptive_avg_pool2d(ctx, node, x, output_size):
    window = _adaptive_window(x.shape[-2:], output_size)
    return _pool(ctx, node, "avg", x, window, window, 0)
