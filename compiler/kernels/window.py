"""Sliding windows over the last two dims of an N-d view (convolution and pooling).

A window offset (i, j) picks x[..., oh*stride + i*dilation, ow*stride + j*dilation] over every
output position (oh, ow): for a fixed offset that is a strided view of x itself, so the kernels
gather windows with 2-D DMA straight from the tensor in DRAM, never through a host copy.

Padding is a padded copy of x in DRAM (its border filled, its interior copied by DMA), not done
by splitting the output into border and interior regions: a DMA has no out-of-bounds fill, and
with a copy every window offset stays one strided view, one GEMM operand or one pass, however
small the image. The copy costs one pass over x; without padding there is none.
"""

from __future__ import annotations

import torch

from atalla.blob_format import Role
from compiler.kernels import copy as copy_kernel
from compiler.values import View


def padded(ctx, x: View, padding: tuple[int, int], fill: float, name: str) -> View:
    """x with `padding` (rows, cols) elements of `fill` on each side of its last two dims."""
    ph, pw = padding
    if not ph and not pw:
        return x
    *lead, h, w = x.shape
    out = View.of(ctx.new_buffer(name, (*lead, h + 2 * ph, w + 2 * pw), Role.INTERMEDIATE))
    value = ctx.constant(f"{name}.fill", torch.full((1,), fill))
    rows, cols = out.ndim - 2, out.ndim - 1
    inner = out.slice(rows, ph, ph + h, 1)
    border = [out.slice(rows, 0, ph, 1), out.slice(rows, ph + h, h + 2 * ph, 1),
              inner.slice(cols, 0, pw, 1), inner.slice(cols, pw + w, w + 2 * pw, 1)]
    for strip in border:
        if strip.numel:
            copy_kernel.copy(ctx.em, strip, value.expand(list(strip.shape)))
    copy_kernel.copy(ctx.em, inner.slice(cols, pw, pw + w, 1), x)
    return out


def window(x: View, offset: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int],
           out_hw: tuple[int, int]) -> View:
    """The (..., Ho, Wo) view of x at window offset (i, j): element (..., oh, ow) is
    x[..., oh*stride + i*dilation, ow*stride + j*dilation]."""
    (i, j), (sh, sw), (dh, dw), (ho, wo) = offset, stride, dilation, out_hw
    rs, cs = x.strides[-2:]
    return x.with_layout((*x.shape[:-2], ho, wo), (*x.strides[:-2], sh * rs, sw * cs),
                         x.offset + i * dh * rs + j * dw * cs)


def patches(x: View, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int],
            out_hw: tuple[int, int]) -> View:
    """im2col of a (C, H, W) view, transposed: (C, kh, kw, Ho, Wo), element (c, i, j, oh, ow) =
    x[c, oh*stride + i*dilation, ow*stride + j*dilation]. A strided view of x, no copy."""
    (kh, kw), (dh, dw) = kernel, dilation
    base = window(x, (0, 0), stride, dilation, out_hw)
    c_stride, rs, cs = x.strides
    return x.with_layout((x.shape[0], kh, kw, *out_hw), (c_stride, dh * rs, dw * cs, *base.strides[1:]), x.offset)
