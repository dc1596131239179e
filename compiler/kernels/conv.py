"""2-D convolution: groups 1 as im2col on the GEMM kernel, depthwise (groups = input channels) on
the vector unit.

Per image: out[Cout, Ho*Wo] = W[Cout, Cin*kh*kw] @ cols[Cin*kh*kw, Ho*Wo] (+ bias per row), where
cols is the transposed im2col of the (padded, compiler/kernels/window.py) input. cols row
(c, i, j), viewed as (Ho, Wo), is a strided view of the input (rows stride*W apart, columns
stride apart), so it is gathered by 2-D DMA from the input in DRAM: a DMA block is up to
sp_rows/4 output rows by `lanes` output columns of one window offset. The gathered rows are
stored contiguously in a DRAM buffer, so the GEMM's B panels are plain row loads and its result
is the NCHW output as it is, with no transpose. (The gather does not feed the GEMM's panels
directly: cols is not one 2-D strided view, its K dims (c, i, j) and its N dims (oh, ow) do not
merge, so a B panel would take Cin*kh DMA calls instead of one, and the GEMM kernel loads a
panel as one 2-D block.) Cout is usually small, so the weights are the A operand (M = Cout) and
the output positions stream through the array as N.
"""

from __future__ import annotations

from atalla.isa import VecFunc
from compiler.emitter import Emitter, Tile
from compiler.kernels import gemm as gemm_kernel
from compiler.kernels.pointwise import pointwise
from compiler.kernels.window import padded, patches, window
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


def depthwise_conv2d(ctx, out: View, x: View, weight: View, bias: View | None, stride: tuple[int, int],
                     padding: tuple[int, int], dilation: tuple[int, int], name: str) -> None:
    """groups = Cin: out channel o (of Cin*mult) convolves input channel o // mult with its own
    kh x kw filter. One pass over the window offsets (i, j) in row order, elementwise in fp32:
      s = MUL(x_00, w_00);  s = ADD(s, MUL(x_ij, w_ij)) ...;  out = bf16(ADD(s, b)) (or COPY(s))
    x_ij the strided view of the (padded) input at offset (i, j), w_ij broadcast over each channel's
    image. Each output channel is a dot of only kh*kw products: the array would sit idle. Every tap's
tiles are live at once (two scratchpad handles per tap), which bounds the kernel size by the
config's handles (5x5 fits the 64 of small)."""
    batch, cout, ho, wo = out.shape
    cin, kh, kw = x.shape[1], *weight.shape[2:]
    mult = cout // cin
    xp = padded(ctx, x, padding, 0.0, f"{name}.padded")
    image = xp.unsqueeze(2).expand([batch, cin, mult, *xp.shape[2:]])  # input channel o // mult, by stride 0
    grouped = out.reshape((batch, cin, mult, ho, wo))
    per_channel = lambda v: v.reshape((cin, mult, 1, 1)).broadcast_to(grouped.shape)  # noqa: E731
    offsets = [(i, j) for i in range(kh) for j in range(kw)]
    xs = [window(image, o, stride, dilation, (ho, wo)) for o in offsets]
    ws = [per_channel(weight.select(1, 0).select(1, i).select(1, j)) for i, j in offsets]
    extra = (per_channel(bias),) if bias is not None else ()
    pointwise(ctx.em, grouped, xs[0], _emit_depthwise(len(offsets), bias is not None), fp32_temps=2,
              operands=(*xs[1:], *ws, *extra))


def _emit_depthwise(taps: int, with_bias: bool):
    def emit(em: Emitter, dst: Tile, src: Tile, temps: tuple[Tile, ...], rows: int, cols: int) -> None:
        xs, ws = (src, *temps[: taps - 1]), temps[taps - 1 : 2 * taps - 1]
        acc, product = temps[-2:]
        em.vec(VecFunc.MUL, acc, xs[0], ws[0], rows=rows, cols=cols)
        for xt, wt in zip(xs[1:], ws[1:]):
            em.vec(VecFunc.MUL, product, xt, wt, rows=rows, cols=cols)
            em.vec(VecFunc.ADD, acc, acc, product, rows=rows, cols=cols)
        if with_bias:
            em.vec(VecFunc.ADD, dst, acc, temps[2 * taps - 1], rows=rows, cols=cols)
        else:
            em.vec(VecFunc.COPY, dst, acc, rows=rows, cols=cols)

    return emit
