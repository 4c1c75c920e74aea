"""Basin adjacency (edges) and per-column extremes for `_segments.py`."""

import numpy as np


def column_runs(labels_t, s8_t, height, fg):
    """Runs of one label down each column, and the vertical basin edges."""
    width, rows = labels_t.shape
    brk = np.empty((width, rows), bool)
    np.not_equal(labels_t[:, 1:], labels_t[:, :-1], out=brk[:, 1:])
    brk[:, ::height] = True
    starts = np.flatnonzero(brk)
    flat_l, flat_s = labels_t.ravel(), s8_t.ravel()
    reduce = np.maximum if fg else np.minimum
    pair = np.minimum if fg else np.maximum
    value = reduce.reduceat(flat_s, starts)
    col, row = np.divmod(starts.astype(np.int32), np.int32(rows))
    inner = starts[row % height != 0]
    image = (inner % rows) // height
    edge = (
        image,
        flat_l[inner - 1],
        flat_l[inner],
        pair(flat_s[inner - 1], flat_s[inner]),
    )
    return (flat_l[starts], row // height, col, value), edge


def diagonal_edges(labels, s8_rows, height):
    """Diagonal basin pairs (image, a, b, min value) of saddle 2x2 blocks.

    A diagonal pair p, q with m = min(S[p], S[q]) only matters when both
    pixels of the other diagonal are below m: otherwise p and q are already
    joined at every level below m through a 4-neighbour path.
    """
    rows, width = labels.shape
    result = []
    if width < 2 or rows < 2:
        return result
    tl, tr = s8_rows[:-1, :-1], s8_rows[:-1, 1:]
    bl, br = s8_rows[1:, :-1], s8_rows[1:, 1:]
    main = np.minimum(tl, br)
    anti = np.minimum(tr, bl)
    saddle = (main > np.maximum(tr, bl)) | (anti > np.maximum(tl, br))
    pos = np.flatnonzero(saddle).astype(np.int64)
    r, c = np.divmod(pos, width - 1)
    keep = r % height != height - 1
    r, c = r[keep], c[keep]
    flat_l, flat_s = labels.ravel(), s8_rows.ravel()
    top = r * width + c
    for a, b in ((top, top + width + 1), (top + 1, top + width)):
        result.append(
            (
                r // height,
                flat_l[a],
                flat_l[b],
                np.minimum(flat_s[a], flat_s[b]),
            )
        )
    return result


def unique_edges(image, a, b, w, count, fg):
    """One edge per basin pair with its best weight (max fg / min bg)."""
    a, b = a.astype(np.int64), b.astype(np.int64)
    keep = a != b
    image, lo, hi, w = (
        image[keep],
        np.minimum(a, b)[keep],
        np.maximum(a, b)[keep],
        w[keep],
    )
    n = int(count.max())
    key = (image.astype(np.int64) * n + lo) * n + hi
    if count.size * n * n <= 1 << 22:
        fill = -1 if fg else 256
        table = np.full(count.size * n * n, fill, np.int16)
        op = np.maximum if fg else np.minimum
        op.at(table, key, w.astype(np.int16))
        cells = np.flatnonzero(table != fill)
        weight = table[cells]
    else:  # many basins (noise-like maps): sort instead
        order = np.lexsort((w if fg else -w.astype(np.int16), key))
        key, w = key[order], w[order]
        last = np.append(key[1:] != key[:-1], True)
        cells, weight = key[last], w[last]
    img, rest = np.divmod(cells, n * n)
    lo, hi = np.divmod(rest, n)
    return img, lo, hi, weight.astype(np.int16)
