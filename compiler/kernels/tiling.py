"""Walks N-d strided views as a sequence of 2-D blocks, the shape one DMA command moves."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import product

from compiler.emitter import Block
from compiler.values import View


def coalesce(shape: tuple[int, ...], strides: list[tuple[int, ...]]) -> list[tuple[int, list[int]]]:
    """Merge adjacent dims that are contiguous for every view; at least two dims come back."""
    merged: list[tuple[int, list[int]]] = []
    for i, size in enumerate(shape):
        if size == 1:
            continue
        st = [s[i] for s in strides]
        if merged and all(prev == cur * size for prev, cur in zip(merged[-1][1], st)):
            merged[-1] = (merged[-1][0] * size, st)
        else:
            merged.append((size, st))
    while len(merged) < 2:
        merged.insert(0, (1, [0] * len(strides)))
    return merged


def blocks_2d(views: list[View], keep_last: bool = False) -> list[list[Block]]:
    """For views of one shape: per outer index, one R x C block of each view (same R, C).

    keep_last: the last dim is the block's columns as it is (a reduction runs along it).
    """
    shape = views[0].shape
    assert all(v.shape == shape for v in views), "views must share a shape"
    if keep_last:
        dims = coalesce(shape[:-1], [v.strides[:-1] for v in views])
        dims = [d for d in dims if d[0] != 1] or [(1, [0] * len(views))]
        dims.append((shape[-1], [v.strides[-1] for v in views]))
    else:
        dims = coalesce(shape, [v.strides for v in views])
    (rows, row_st), (cols, col_st) = dims[-2], dims[-1]
    outer = dims[:-2]
    out = []
    for index in product(*(range(size) for size, _ in outer)):
        blocks = []
        for vi, v in enumerate(views):
            offset = v.offset + sum(i * st[vi] for i, (_, st) in zip(index, outer))
            blocks.append(Block(v, offset, rows, cols, row_st[vi], col_st[vi]))
        out.append(blocks)
    return out


def lane_rows(blocks: list[Block], lanes: int, max_rows: int) -> list[list[Block]]:
    """A block group whose rows are longer than the lanes, refolded row by row into rows of `lanes`
    elements and the remainder: one DMA moves many rows rather than one row per chunk. Always for
    one row (what a contiguous tensor coalesces to); for more, when that takes fewer tiles (a
    broadcast operand keeps a short outer dim apart from long rows: the heads of an attention
    mask, 12 rows of 16,384 elements)."""
    first = blocks[0]
    if first.cols <= lanes:
        return [blocks]
    full, rest = divmod(first.cols, lanes)
    as_is = -(-first.rows // max_rows) * -(-first.cols // lanes)
    refolded = first.rows * (-(-full // max_rows) + (rest > 0))
    if first.rows > 1 and refolded >= as_is:
        return [blocks]
    groups = []
    for r in range(first.rows):
        row = [Block(b.view, b.offset + r * b.row_stride, 1, b.cols, b.row_stride, b.col_stride) for b in blocks]
        groups.append([Block(b.view, b.offset, full, lanes, lanes * b.col_stride, b.col_stride) for b in row])
        if rest:
            groups.append([Block(b.view, b.offset + full * lanes * b.col_stride, 1, rest, b.row_stride, b.col_stride)
                           for b in row])
    return groups


def tiles(views: list[View], max_rows: int, lanes: int) -> Iterator[list[Block]]:
    """The tiles of views of one shape, at most max_rows x lanes each: one block per view."""
    for blocks in blocks_2d(views):
        for group in lane_rows(blocks, lanes, max_rows):
            for r0, nr in spans(group[0].rows, max_rows):
                for c0, nc in spans(group[0].cols, lanes):
                    yield [b.sub(r0, c0, nr, nc) for b in group]


def view_2d(view: View) -> Block:
    """A 2-D view as one block (matrix operands of GEMM)."""
    assert view.ndim == 2
    return Block(view, view.offset, view.shape[0], view.shape[1], view.strides[0], view.strides[1])


def tile_count(rows: int, row_tile: int, col_tiles: int) -> int:
    """Output tiles of a GEMM kernel: row blocks of row_tile rows (the last one partial) x N tiles."""
    return -(-rows // row_tile) * col_tiles


def spans(total: int, step: int) -> list[tuple[int, int]]:
    """(start, length) pieces of [0, total) at most `step` long."""
    return [(s, min(step, total - s)) for s in range(0, total, step)]
