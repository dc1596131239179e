"""Attention head after head with the scores kept in the scratchpad: per head
  x = bf16(q @ k^T) * scale        (the GEMMs write x's column tiles; the scale on their live rows)
  y = softmax(x + mask)             (softmax.block_commands: the commands softmax_blocks emits)
  out = bf16(y @ v)                 (y's column tiles are the GEMM's K tiles, as they lie)
the same commands on the same values as the q @ k^T GEMM, the softmax and the @ v GEMM emitted one
after the other through DRAM (compiler.ops._sdpa's other path), so the result is the same bits.

The heads are software pipelined over two sets of tiles: while the vector unit runs head h's
softmax and head h+1's scale, the array runs head h+1's q @ k^T and head h-1's @ v, and the DMA
loads head h+2's q and k^T and stores head h-1's result. The three command streams (GEMMs, VECs,
DMA calls) are merged by a model of the command processor (`_merge`): a GEMM whenever the GEMM
queue has room, else a DMA call while the mailbox has room, else the next VEC; a command using a
GEMM's rows goes GEMM_QUEUE_DEPTH - 1 GEMMs after it where it can, so it is not held for them
(docs/isa.md, "Ordering").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from atalla.isa import GEMM_QUEUE_DEPTH, VecFunc, tile_sp_rows
from compiler.emitter import Block, Emitter
from compiler.errors import CompileError
from compiler.kernels.gemm import ISSUE_CYCLES, VEC_OVERHEAD_CYCLES, k_tile_rows
from compiler.kernels.softmax import block_commands, down_the_block, from_row, live_rows
from compiler.kernels.tiling import spans, view_2d
from compiler.values import View

MAILBOX_DEPTH = 4  # requests the mailbox queues (docs/isa.md, "The mailbox")


@dataclass
class _Step:
    """One command (or a WAIT and its command) of a stream, emitted by `emit`."""

    emit: Callable[[], None]
    cycles: int  # what it costs its unit: a GEMM's array cycles, a VEC's, 0 for a DMA call
    after: int = -1  # the GEMM (index in the GEMM stream) whose rows this one reads or overwrites
    needs: list[tuple[str, int]] = field(default_factory=list)  # (stream, step) emitted before it


def fits(em: Emitter, length: int, source: int, dim: int, value_dim: int, masked: bool) -> bool:
    """Whether attention() can keep its tiles in the free scratchpad, y's column tiles being the
    @ v GEMM's K tiles (masked: tiles for the mask's rows)."""
    cfg = em.config
    if spans(source, k_tile_rows(source, cfg.array_rows)) != spans(source, cfg.lanes):
        return False
    rows = sum(tile_sp_rows(r, fp32) for r, fp32 in _tiles(cfg, length, source, dim, value_dim, masked))
    return rows * cfg.sp_row_bytes <= em.sp_free_bytes() - cfg.sp_page_bytes


def _tiles(cfg, length: int, source: int, dim: int, value_dim: int, masked: bool) -> list[tuple[int, bool]]:
    """(rows, fp32) of attention()'s tiles: two sets (by head parity) of q (its K tiles one after
    the other), k^T (its N tiles likewise), v (likewise), x's and y's column tiles and the result's
    N tiles; then e's column tiles, m, s, the fold, the mask's column tiles and the accumulators."""
    ns, kq = len(spans(source, cfg.lanes)), len(spans(dim, k_tile_rows(dim, cfg.array_rows)))
    nd = len(spans(value_dim, cfg.lanes))
    per_head = [(length * kq, False), (ns * dim, False), (nd * source, False)] + [(length, False)] * (2 * ns + nd)
    fp32 = (length, True)
    return (per_head * 2 + [fp32] * (ns + 3) + [(length, False)] * (ns if masked else 0)
            + [fp32] * ((kq > 1) + (ns > 1)))


def attention(em: Emitter, outs: list[View], qs: list[View], kts: list[View], vs: list[View], scale_factor: float,
              masked: np.ndarray | None = None, zeros: View | None = None, mask: View | None = None,
              mask_zero: np.ndarray | None = None) -> None:
    """outs[h] = softmax(qs[h] @ kts[h] * scale + mask) @ vs[h] for every head h, all views 2-D:
    qs [L, d], kts [d, S], vs [S, dv], outs [L, dv]; mask [L, S], the same for every head, with
    masked and mask_zero as softmax_blocks takes them (zeros: `lanes` bf16 zeros, for rows masked
    whole). Call fits() first."""
    cfg = em.config
    heads = len(qs)
    length, dim = qs[0].shape
    source, value_dim = kts[0].shape[1], vs[0].shape[1]
    cols = spans(source, cfg.lanes)  # x's and y's column tiles: the K tiles of y @ v
    k_tiles = spans(dim, k_tile_rows(dim, cfg.array_rows))  # of q @ k^T
    d_tiles = spans(value_dim, cfg.lanes)  # the N tiles of y @ v
    ns, kq, nd = len(cols), len(k_tiles), len(d_tiles)
    masked = down_the_block(masked if zeros is not None else None, length, ns)
    mask_zero = down_the_block(mask_zero, length, ns)
    dead, added = live_rows(masked, mask_zero, 0, length, ns, mask is not None)
    if not fits(em, length, source, dim, value_dim, bool(added)):
        raise CompileError(f"attention of {heads} heads (L {length}, S {source}, d {dim}, dv {value_dim}) does not "
                           "fit the free scratchpad")

    group = em.alloc_group(_tiles(cfg, length, source, dim, value_dim, bool(added)))
    per_head = 3 + 2 * ns + nd
    sets = [group[i * per_head : (i + 1) * per_head] for i in range(2)]  # by head parity
    q_t, kt_t, v_t = ([t[i] for t in sets] for i in range(3))
    xs, ys, out_t = [t[3 : 3 + ns] for t in sets], [t[3 + ns : 3 + 2 * ns] for t in sets], [t[3 + 2 * ns :] for t in sets]
    rest = group[2 * per_head :]
    es, (m, s, part), rest = rest[:ns], rest[ns : ns + 3], rest[ns + 3 :]
    mask_t, rest = (rest[:ns], rest[ns:]) if added else ([None] * ns, rest)
    acc_qk = rest.pop(0) if kq > 1 else None
    acc_pv = rest.pop(0) if ns > 1 else None

    q_b, kt_b, v_b, out_b = ([view_2d(v) for v in views] for views in (qs, kts, vs, outs))
    streams: dict[str, list[_Step]] = {"gemm": [], "vec": [], "call": []}  # each in program order
    gemms = streams["gemm"]
    transfers: dict[tuple[str, int], list[int]] = {}  # (what, head) -> its transfers in flight
    last_step: dict[tuple[str, int], tuple[str, int]] = {}  # (what, head) -> its last step: (stream, index)

    def dma_steps(key, blocks: list[tuple], store: bool, after: int) -> None:
        """One DMA call a step: blocks of (tile, block, tile row), their transfers kept under key."""
        transfers[key] = []
        for tile, block, row in blocks:
            def emit(tile=tile, block=block, row=row) -> None:
                transfers[key].append((em.store if store else em.load)(tile, block, row))

            streams["call"].append(_Step(emit, 0, after))
        last_step[key] = ("call", len(streams["call"]) - 1)

    def gemm_index(key) -> int:
        return last_step[key][1] if key in last_step else -1

    def wait_for(key, which: list[int] | None = None) -> None:
        """WAIT for the transfers under key (those of the given indices): the emitter skips any
        already waited for."""
        mine = transfers.get(key, [])
        for i in range(len(mine)) if which is None else which:
            em.wait(mine[i])

    def setup(p: int) -> None:
        """Once for every head: the mask's rows each head adds (with the first set), and 0 in the
        dead rows of the set's y (y @ v reads them; the softmax never writes them)."""
        blocks = [(mask_t[j], view_2d(mask).sub(a, cols[j][0], rows, cols[j][1]), a) for j, a, rows in added] if p == 0 else []
        blocks += [(ys[p][j], Block(zeros, zeros.offset, d, nc, 0, 1), 0) for j, ((_, nc), d) in enumerate(zip(cols, dead)) if d]
        dma_steps(("setup", p), blocks, False, -1)

    def load_qk(h: int) -> None:  # into the tiles head h-2's q @ k^T read
        p = h % 2
        dma_steps(("qk", h), [(q_t[p], q_b[h].sub(0, k0, length, kk), i * length) for i, (k0, kk) in enumerate(k_tiles)]
                  + [(kt_t[p], kt_b[h].sub(0, c0, dim, nc), j * dim) for j, (c0, nc) in enumerate(cols)],
                  False, gemm_index(("qk_gemms", h - 2)))

    def load_v(h: int) -> None:  # into the tiles head h-2's @ v read
        p = h % 2
        dma_steps(("v", h), [(v_t[p], v_b[h].sub(0, c0, source, nc), c * source) for c, (c0, nc) in enumerate(d_tiles)],
                  False, gemm_index(("pv_gemms", h - 2)))

    def store_out(h: int) -> None:
        p = h % 2
        dma_steps(("out", h), [(out_t[p][c], out_b[h].sub(0, c0, length, nc), 0) for c, (c0, nc) in enumerate(d_tiles)],
                  True, gemm_index(("pv_gemms", h)))

    def gemm_step(emit, first_needs: list, first: bool) -> None:
        needs = [last_step[key] for key in first_needs if key in last_step] if first else []
        gemms.append(_Step(emit, max(length, cfg.array_rows, ISSUE_CYCLES), needs=needs))

    def qk_gemms(h: int) -> None:
        p = h % 2
        for j, (_, nc) in enumerate(cols):
            for i, (k0, kk) in enumerate(k_tiles):
                def emit(j=j, i=i, k0=k0, kk=kk, nc=nc) -> None:
                    wait_for(("qk", h), [i, kq + j])  # its q and k^T tiles
                    em.gemm(q_t[p], kt_t[p], xs[p][j] if i == kq - 1 else acc_qk, length, kk, nc,
                            c=acc_qk if i else None, a_row=i * length, b_row=j * dim + k0)

                # x's tiles are the ones head h-2's softmax read
                gemm_step(emit, [("qk", h), ("softmax", h - 2)], (j, i) == (0, 0))
        last_step[("qk_gemms", h)] = ("gemm", len(gemms) - 1)

    def pv_gemms(h: int) -> None:
        p = h % 2
        for c, (_, nc) in enumerate(d_tiles):
            for i, (k0, kk) in enumerate(cols):
                def emit(c=c, i=i, k0=k0, kk=kk, nc=nc) -> None:
                    if (c, i) == (0, 0):
                        wait_for(("v", h))
                        wait_for(("out", h - 2))  # the result tiles are still being stored
                    em.gemm(ys[p][i], v_t[p], out_t[p][c] if i == ns - 1 else acc_pv, length, kk, nc,
                            c=acc_pv if i else None, b_row=c * source + k0)

                gemm_step(emit, [("softmax", h), ("v", h), ("out", h - 2)], (c, i) == (0, 0))
        last_step[("pv_gemms", h)] = ("gemm", len(gemms) - 1)

    def vec_steps(key, commands, after: int, setup_set: int | None = None) -> None:
        """One VEC a step; the first waits for the setup of its set of tiles, if given."""
        for n, command in enumerate(commands):
            extra = (cfg.vec_div_latency if command.func == VecFunc.DIV else
                     cfg.vec_reduce_latency if command.func in (VecFunc.ROWSUM, VecFunc.ROWMAX) else 0)
            first = n == 0 and setup_set is not None

            def emit(command=command, first=first) -> None:
                if first:
                    wait_for(("setup", setup_set))
                    wait_for(("setup", 0))  # the mask
                em.place([command])

            streams["vec"].append(_Step(emit, command.field("rows") + VEC_OVERHEAD_CYCLES + extra, after,
                                        [last_step[("setup", setup_set)], last_step[("setup", 0)]] if first else []))
        last_step[key] = ("vec", len(streams["vec"]) - 1)

    def scale(h: int) -> None:
        p = h % 2
        vec_steps(("scale", h), em.capture(lambda: [
            em.vec(VecFunc.MUL, from_row(xs[p][j], d), from_row(xs[p][j], d), scale_factor, rows=length - d, cols=nc)
            for j, ((_, nc), d) in enumerate(zip(cols, dead)) if d < length]), gemm_index(("qk_gemms", h)))

    def softmax(h: int) -> None:  # its y tiles are the A of head h-2's @ v
        p = h % 2
        tiles = (xs[p], es, m, s, part, ys[p])
        adds = [(xs[p][j], mask_t[j], a, rows, cols[j][1]) for j, a, rows in added]
        vec_steps(("softmax", h), em.capture(lambda: block_commands(em, tiles, cols, length, dead, adds)),
                  gemm_index(("pv_gemms", h - 2)), h if h < 2 else None)

    # Head h's softmax beside head h+1's q @ k^T and head h-1's @ v.
    for h in range(min(2, heads)):
        load_qk(h)
        setup(h)
        load_v(h)
    qk_gemms(0)
    scale(0)
    for h in range(heads):
        if h + 2 < heads:
            load_qk(h + 2)
        if h + 1 < heads:
            qk_gemms(h + 1)
        if h >= 1:
            pv_gemms(h - 1)
        softmax(h)
        if h >= 1 and h + 1 < heads:
            load_v(h + 1)
        if h + 1 < heads:
            scale(h + 1)
        if h >= 1:
            store_out(h - 1)
    pv_gemms(heads - 1)
    store_out(heads - 1)
    _merge(cfg, streams)
    for h in range(heads):
        wait_for(("out", h))
    em.free(*group)


def _merge(cfg, streams: dict[str, list[_Step]]) -> None:
    """Emit the streams, each in its order, interleaved by a model of the command processor: a GEMM
    while the GEMM queue has room (the array then never waits), else a DMA call while the mailbox
    has room, else the next VEC; a VEC or call goes GEMM_QUEUE_DEPTH - 1 GEMMs after the GEMM whose
    rows it uses (`after`) where it can. `after` and `needs` always hold: they are the program's order."""
    gemms = streams["gemm"]
    done = dict.fromkeys(streams, 0)  # steps emitted, per stream
    now, array_free, firmware_free = 0, 0, 0  # cycles: the model's clock, when each unit is next free
    queue, calls = [], []  # finish cycles of the GEMMs and the firmware's DMA calls still pending

    def ready(name: str, retired: bool) -> bool:
        """The stream's next step may go now: emitted after what it needs (and, retired: its GEMM
        left the queue, by the GEMMs since, or there are no more GEMMs to wait for)."""
        if done[name] == len(streams[name]):
            return False
        step = streams[name][done[name]]
        if not all(done[stream] > index for stream, index in step.needs):
            return False
        if name == "gemm":
            return True
        g = done["gemm"]
        return step.after < g and (not retired or step.after <= g - GEMM_QUEUE_DEPTH or g == len(gemms))

    while any(done[name] < len(steps) for name, steps in streams.items()):
        queue, calls = [f for f in queue if f > now], [f for f in calls if f > now]
        queued, mailbox_room = len(queue), len(calls) < MAILBOX_DEPTH
        if ready("gemm", False) and queued < GEMM_QUEUE_DEPTH:
            name = "gemm"
        elif ready("call", True) and mailbox_room:
            name = "call"
        elif ready("vec", True):
            name = "vec"
        else:
            name = next((n for n in ("gemm", "vec", "call") if ready(n, False)), None)
            if name is None:
                raise AssertionError("attention streams wait on each other")
        step = streams[name][done[name]]
        step.emit()
        done[name] += 1
        if name == "gemm":
            if queued >= GEMM_QUEUE_DEPTH:  # the command processor waits for a slot
                now = min(queue)
            array_free = max(array_free, now) + step.cycles
            queue.append(array_free)
            now += ISSUE_CYCLES
        elif name == "call":
            if not mailbox_room:  # the command processor waits for the mailbox
                now = min(calls)
            firmware_free = max(firmware_free, now) + cfg.fw_dma_cycles  # it serves one call at a time
            calls.append(firmware_free)
            now += ISSUE_CYCLES
        else:
            now += step.cycles
