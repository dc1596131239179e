"""Linear, activation, Linear as one kernel: out = act(x @ w1 + b1) @ w2 + b2, a transformer's MLP.

Two kernels in a row (the first Linear with the activation as its epilogue, then the second
Linear) leave the array idle for as long as the activation outruns the first Linear's GEMMs,
and the second Linear cannot start before all of it is done: it reads whole hidden rows. Here
the hidden dimension is walked one tile (a K tile of the second Linear) at a time, in three
stages a tile apart. In step j, between the GEMMs of
- the first Linear's output tile j (its K tiles into an fp32 accumulator, bias first, rounded
  to bf16 by the last), and
- the second Linear's K tile j - 2: one GEMM per output tile, accumulated in fp32 tiles that
  hold the whole row block's output (bias first, rounded to bf16 by the last K tile),
the vector unit runs the activation of tile j - 1 (its VEC commands spread among the GEMMs, from
the one where the tile they read has left the GEMM queue), and the activated tile is stored to
the hidden tensor, which stays in DRAM like any intermediate. The array then waits only where
the activation of a tile takes longer than two tiles' GEMMs.

The sums are the two Linears' own (compiler/kernels/gemm.py): K tiles of k_tile_rows in order,
so the result has the bits of the two kernels; the first Linear's N tiles are the second one's
K tiles. The second Linear's weights load in groups of its K tiles, double buffered (or all at
once when they fit, then only once), each group asked for while the group before computes.
Everything in one ALLOC; a row block of as many rows as fit (one for GPT-2 small: 128 rows).
mlp_plan says whether a shape fits at all; the caller falls back to the two kernels otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from atalla.config import HardwareConfig
from atalla.isa import GEMM_QUEUE_DEPTH, VecFunc, tile_sp_rows
from compiler.emitter import Block, Emitter, Tile
from compiler.kernels.gemm import even_k, k_tile_rows
from compiler.kernels.pointwise import Emit
from compiler.kernels.tiling import spans, tile_count, view_2d
from compiler.values import View


@dataclass(frozen=True)
class MlpPlan:
    m_tile: int  # rows of a row block
    group: int  # K tiles of the second Linear per weight load (all of them: loaded once)


def output_tiles(plan: MlpPlan, m_total: int, n_total: int, cfg: HardwareConfig) -> int:
    """The output tiles the kernel stores (row blocks x the second Linear's N tiles)."""
    return tile_count(m_total, plan.m_tile, len(spans(n_total, cfg.array_cols)))


def _row_bias(bias: View | None) -> bool:
    """No bias, or one row broadcast down the output (a Linear's)."""
    return bias is None or bias.strides[0] == 0


def mlp_plan(em: Emitter, x: View, w1: View, b1: View | None, fp32_temps: int, w2: View,
             b2: View | None, residual: bool = False) -> MlpPlan | None:
    """The row block and weight group the kernel runs with, or None where it cannot: x not
    row-major in equal K tiles, a bias that is not a row, a hidden tile wider than the array, or
    not even a row block as tall as the array fitting the free scratchpad. residual: the output
    takes a residual added (mlp's `residual`)."""
    cfg = em.config
    (m_total, k1), n1, n2 = x.shape, w1.shape[1], w2.shape[1]
    x_blk = view_2d(x)
    kt1 = len(spans(k1, k_tile_rows(k1, cfg.array_rows)))
    width = k_tile_rows(n1, cfg.array_rows)
    if not (x_blk.col_stride == 1 and x_blk.row_stride == k1 and even_k(k1, kt1)) or width > cfg.array_cols:
        return None
    if not (_row_bias(b1) and _row_bias(b2)):
        return None
    nt1, nt2 = len(spans(n1, width)), len(spans(n2, cfg.array_cols))
    free_rows = em.sp_free_bytes() // cfg.sp_row_bytes - cfg.sp_page_bytes // cfg.sp_row_bytes
    # Row blocks shorter than the array is tall would cost a full array height a GEMM: then the two
    # kernels, which choose their own, do better.
    for m in sorted({-(-m_total // blocks) for blocks in range(1, m_total + 1)
                     if -(-m_total // blocks) >= min(m_total, cfg.array_rows)}, reverse=True):
        for group in dict.fromkeys(g for g in (nt1, 4, 2, 1) if g <= nt1):
            if _rows_needed(m, group, kt1, k1, nt1, nt2, width, fp32_temps, b1 is not None, b2 is not None,
                            residual) <= free_rows:
                return MlpPlan(m, group)
    return None


def _rows_needed(m: int, group: int, kt1: int, k1: int, nt1: int, nt2: int, width: int, fp32_temps: int,
                 bias1: bool, bias2: bool, residual: bool) -> int:
    """Scratchpad rows of the kernel's buffers (_layout's, in its order)."""
    return sum(tile_sp_rows(rows, fp32) for rows, fp32 in _layout(m, group, kt1, k1, nt1, nt2, width, fp32_temps,
                                                                  bias1, bias2, residual))


def _residual_tiles(nt2: int) -> int:
    """Residual tiles in flight: each output tile's loads this many tiles ahead of its add, about
    the GEMMs a DMA call and its transfer take."""
    return min(4, nt2)


def _layout(m: int, group: int, kt1: int, k1: int, nt1: int, nt2: int, width: int, fp32_temps: int,
            bias1: bool, bias2: bool, residual: bool) -> list[tuple[int, bool]]:
    """(rows, fp32) of: the x panel (later the output tiles), the first weights' panels, the first
    accumulator, two pre-activation tiles, two activated tiles, the activation's temps, the second
    weights' groups, the second accumulators, the bias rows, the residual's tiles."""
    return ([(m * max(kt1, nt2), False)] + [(k1, False)] * (2 if nt1 > 1 else 1)
            + ([(m, True)] if kt1 > 1 else []) + [(m, False)] * 4 + [(m, True)] * fp32_temps
            + [(nt2 * group * width, False)] * (1 if group == nt1 else 2)
            + ([(nt2 * m, True)] if nt1 > 1 else [])
            + ([(nt1, False)] if bias1 else []) + ([(nt2, False)] if bias2 else [])
            + [(m, False)] * (_residual_tiles(nt2) if residual else 0))


def _load_bias_rows(em: Emitter, tile: Tile, bias: View, width: int) -> list[int]:
    """The bias row into the tile, a tile row per output tile of `width` columns: full rows, then the rest."""
    blk = view_2d(bias)
    full, rest = divmod(bias.shape[1], width)
    step = blk.col_stride
    loads = [em.load(tile, Block(blk.view, blk.offset, full, width, width * step, step))] if full else []
    if rest:
        loads.append(em.load(tile, Block(blk.view, blk.offset + full * width * step, 1, rest, 0, step), row=full))
    return loads


def _shares(count: int, slots: int) -> list[int]:
    """How many of `count` items go in each of `slots` places, spread evenly."""
    return [-(-count * (s + 1) // slots) - -(-count * s // slots) for s in range(slots)]


def mlp(em: Emitter, plan: MlpPlan, out: View, hidden: View, x: View, w1: View, b1: View | None,
        epilogue: tuple[Emit, int], w2: View, b2: View | None, residual: tuple[View, bool] | None = None) -> None:
    """All views 2-D: x [M, K], w1 [K, H], hidden [M, H] (written: the activated first Linear),
    w2 [H, N], out [M, N]; the biases broadcast to hidden's and out's shapes. residual: (r [M, N],
    whether the MLP's result is the first operand) adds r to the output: each output tile, once its
    last GEMM has retired, takes one VEC ADD in place (the add's own kernel's arithmetic) before
    its store, beside the GEMMs of the tiles after it, its residual tile loaded a few tiles ahead."""
    cfg = em.config
    rows_r, cols_c = cfg.array_rows, cfg.array_cols
    (m_total, k1), n1, n2 = x.shape, w1.shape[1], w2.shape[1]
    emit, fp32_temps = epilogue
    x_blk, w1_blk, w2_blk, h_blk, out_blk = (view_2d(v) for v in (x, w1, w2, hidden, out))
    k1_tiles = spans(k1, k_tile_rows(k1, rows_r))
    h_tiles = spans(n1, k_tile_rows(n1, rows_r))  # the first Linear's N tiles, the second's K tiles
    n2_tiles = spans(n2, cols_c)
    kt1, nt1, nt2 = len(k1_tiles), len(h_tiles), len(n2_tiles)
    m_tile, group = plan.m_tile, plan.group
    width = h_tiles[0][1]

    tiles = em.alloc_group(_layout(m_tile, group, kt1, k1, nt1, nt2, width, fp32_temps, b1 is not None,
                                   b2 is not None, residual is not None))
    x_panel, tiles = tiles[0], tiles[1:]
    w1_panels, tiles = tiles[: 2 if nt1 > 1 else 1], tiles[2 if nt1 > 1 else 1 :]
    acc1, tiles = (tiles[0], tiles[1:]) if kt1 > 1 else (None, tiles)
    pre, act, tiles = tiles[:2], tiles[2:4], tiles[4:]
    temps, tiles = tuple(tiles[:fp32_temps]), tiles[fp32_temps:]
    resident = group == nt1
    w2_groups, tiles = tiles[: 1 if resident else 2], tiles[1 if resident else 2 :]
    acc2, tiles = (tiles[0], tiles[1:]) if nt1 > 1 else (None, tiles)
    bias1_tile, tiles = (tiles[0], tiles[1:]) if b1 is not None else (None, tiles)
    bias2_tile, res_tiles = (tiles[0], tiles[1:]) if b2 is not None else (None, tiles)
    for transfer in ((_load_bias_rows(em, bias1_tile, b1, width) if b1 is not None else [])
                     + (_load_bias_rows(em, bias2_tile, b2, cols_c) if b2 is not None else [])):
        em.wait(transfer)

    groups = spans(nt1, group)  # (first K tile, K tiles) of each weight group of the second Linear
    group_of = [gi for gi, (_, gl) in enumerate(groups) for _ in range(gl)]
    w2_loads: dict[tuple[int, int], int] = {}  # (group, output tile) -> transfer

    def load_w2(gi: int, n: int) -> None:
        g0, gl = groups[gi]
        k0 = h_tiles[g0][0]
        rows = h_tiles[g0 + gl - 1][0] + h_tiles[g0 + gl - 1][1] - k0
        n0, nn = n2_tiles[n]
        w2_loads[gi, n] = em.load(w2_groups[gi % len(w2_groups)], w2_blk.sub(k0, n0, rows, nn), row=n * group * width)

    def w1_gemm(j: int, i: int, mm: int) -> None:
        (k0, kk), (_, nn) = k1_tiles[i], h_tiles[j]
        last = i == kt1 - 1
        c = acc1 if i > 0 else bias1_tile
        em.gemm(x_panel, w1_panels[j % len(w1_panels)], pre[j % 2] if last else acc1, mm, kk, nn, c=c,
                c_is_row=i == 0 and b1 is not None, c_row=j if i == 0 else 0, a_row=i, a_step=kt1, b_row=k0)

    def w2_gemm(j: int, n: int, mm: int) -> None:
        gi = group_of[j]
        em.wait(w2_loads[gi, n])
        kk, nn = h_tiles[j][1], n2_tiles[n][1]
        last = j == nt1 - 1
        c = acc2 if j > 0 else bias2_tile
        em.gemm(act[j % 2], w2_groups[gi % len(w2_groups)], x_panel if last else acc2, mm, kk, nn, c=c,
                c_is_row=j == 0 and b2 is not None, c_row=n if j == 0 else n * m_tile,
                b_row=n * group * width + h_tiles[j][0] - h_tiles[groups[gi][0]][0], d_row=n * m_tile)

    res_blk = view_2d(residual[0]) if residual is not None else None
    res_loads: dict[int, int] = {}  # output tile -> its residual tile's transfer

    ask = GEMM_QUEUE_DEPTH - 1
    for bi, (m0, mm) in enumerate(spans(m_total, m_tile)):
        x_load = em.load(x_panel, Block(x_blk.view, x_blk.offset + m0 * k1, mm * kt1, k1_tiles[0][1],
                                        k1_tiles[0][1], 1))
        w1_loads = {0: em.load(w1_panels[0], w1_blk.sub(0, h_tiles[0][0], k1, h_tiles[0][1]))}
        em.wait(x_load)
        # Weight loads per step: group 0 over the first two steps (its first GEMMs are in step 2),
        # group gi over the steps of group gi - 1, whose buffer is the other one.
        w2_at: dict[int, list[tuple[int, int]]] = {}
        for gi in range(len(groups) if not resident or bi == 0 else 0):
            steps = range(0, 2) if gi == 0 else range(groups[gi - 1][0] + 2, groups[gi - 1][0] + 2 + groups[gi - 1][1])
            n = 0
            for s, share in zip(steps, _shares(nt2, len(steps))):
                w2_at.setdefault(s, []).extend((gi, n + q) for q in range(share))
                n += share
        act_stores: dict[int, int] = {}
        out_stores: list[int] = []
        def load_residual(n: int) -> None:
            n0, nn = n2_tiles[n]
            res_loads[n] = em.load(res_tiles[n % len(res_tiles)], res_blk.sub(m0, n0, mm, nn))

        for step in range(nt1 + 2):
            if residual is not None and step == nt1:  # a step before the output tiles' first add
                for n in range(len(res_tiles)):
                    load_residual(n)
            j1 = step if step < nt1 else None  # the first Linear's tile
            ja = step - 1 if 0 <= step - 1 < nt1 else None  # the activation's
            j2 = step - 2 if step >= 2 else None  # the second Linear's K tile
            if ja is not None:
                if ja - 2 in act_stores:
                    em.wait(act_stores.pop(ja - 2))  # the activated tile is about to be overwritten
                vecs = em.capture(lambda: emit(em, act[ja % 2], pre[ja % 2], temps, mm, h_tiles[ja][1]))
            else:
                vecs = []
            gemms = ([lambda i=i: w1_gemm(j1, i, mm) for i in range(kt1)] if j1 is not None else []) + (
                [lambda n=n: w2_gemm(j2, n, mm) for n in range(nt2)] if j2 is not None else [])
            loads = w2_at.get(step, [])
            after = max(len(gemms) - ask, 1)  # GEMMs from `ask` on: the last step's have left the queue
            vec_shares, load_shares = _shares(len(vecs), after), _shares(len(loads), after)
            if j1 is not None:
                em.wait(w1_loads.pop(j1))
            placed_vecs = placed_loads = 0

            def asks(g: int) -> None:
                """What goes after GEMM g of the step (g = -1: a step with no GEMMs): from GEMM `ask`
                on, a share of the activation's commands and of the weight loads; at `ask` the next
                first-Linear panel; in the last step each output tile's store, `ask` GEMMs after its
                last GEMM, where it has retired. A step of `ask` GEMMs or fewer places all after its last."""
                nonlocal placed_vecs, placed_loads
                slot = g - ask if len(gemms) > ask else (0 if g == len(gemms) - 1 else -1)
                if slot < 0:
                    return
                if slot == 0 and j1 is not None and j1 + 1 < nt1:
                    n0, nn = h_tiles[j1 + 1]
                    w1_loads[j1 + 1] = em.load(w1_panels[(j1 + 1) % len(w1_panels)], w1_blk.sub(0, n0, k1, nn))
                share = vec_shares[slot]
                em.place(vecs[placed_vecs : placed_vecs + share])
                placed_vecs += share
                if share and placed_vecs == len(vecs):
                    act_stores[ja] = em.store(act[ja % 2], h_blk.sub(m0, h_tiles[ja][0], mm, h_tiles[ja][1]))
                for gi, n in loads[placed_loads : placed_loads + load_shares[slot]]:
                    load_w2(gi, n)
                placed_loads += load_shares[slot]
                if j2 == nt1 - 1 and 0 <= g - ask < nt2:  # the last step: its GEMMs are the output tiles'
                    out_stores.append(store_out(g - ask))

            def store_out(n: int) -> int:
                n0, nn = n2_tiles[n]
                if residual is not None:
                    tile, res = replace(x_panel, rows=mm, base=x_panel.base + n * m_tile), res_tiles[n % len(res_tiles)]
                    em.wait(res_loads.pop(n))
                    em.vec(VecFunc.ADD, tile, *((tile, res) if residual[1] else (res, tile)), rows=mm, cols=nn)
                    if n + len(res_tiles) < nt2:
                        load_residual(n + len(res_tiles))  # into the tile the add just read
                return em.store(x_panel, out_blk.sub(m0, n0, mm, nn), row=n * m_tile)

            for g, gemm in enumerate(gemms):
                gemm()
                asks(g)
            if not gemms:
                asks(-1)
        for n in range(len(out_stores), nt2):
            out_stores.append(store_out(n))
        for transfer in [*act_stores.values(), *out_stores]:
            em.wait(transfer)  # the x panel is the next row block's
    em.free(x_panel)
