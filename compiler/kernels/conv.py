"""2-D convolution (groups 1) as im2col on the GEMM kernel.

Per image: out[Cout, Ho*Wo] = W[Cout, Cin*kh*kw] @ cols[Cin*kh*kw, Ho*Wo] (+ bias per row), where
cols is the transposed im2col of the (padded, compiler/kernels/window.py) input. cols row
(c, i, j), viewed as (Ho, Wo), is a strided view of the input (rows stride*W apart, columns
stride apart), so it is gathered by 2-D DMA from the input in DRAM: a DMA block is up to
sp_rows/4 output rows by `lanes` output columns of one window offset. The gathered rows are
stored contiguously in a DRAM buffer, so the GEMM's B panels are plain row loads and its result
is the NCHW output as it is, with no transpose. (The gather cannot feed the GEMM's panels
directly: cols is not one 2-D strided view, its K dims (c, i, j) and its N dims (oh, ow) do not
merge, and the GEMM kernel loads a panel as one 2-D block.) Cout is usually small, so the weights are the A operand (M = Cout)
and the output positions stream through the array as N.
"""

from __future__ import annotations

from compiler.kernels import gemm as gemm_kernel
from compiler.kernels.window import padded, patches
from compiler.values import View


def conv2d(ctx, out: View, x: View, weight: View, bias: View | None, stride: tuple[int, int],
           padding: tuple[int, int], dilation: tuple[int, int], name: str) -> None:
    """out (N, Cout, Ho, Wo), x (N, Cin, H, W), weight (Cout, Cin, kh, kw), bias (Cout,) or None."""
    batch, cout, ho, wo = out.shape
    _, cin, kh, kw = weight.shape
    depth = cin * kh * kw
    w2 = ctx.reshape(ctx.contiguous_constant(weight), (cout, depth))
    bias2 = bias.unsqueeze(1).expand([cout, ho * wo]) if bias is not None else None
    xp = padded(ctx, x, padding, 0.0, f"{name}.padded")
    for b in range(batch):
        cols = ctx.materialize(patches(xp.select(0, b), (kh, kw), stride, dilation, (ho, wo)), f"{name}.cols{b}")
        gemm_kernel.gemm(ctx.em, ctx.reshape(out.select(0, b), (cout, ho * wo)), w2, cols.reshape((depth, ho * wo)),
                         bias2)
