"""Row-segment decomposition behind the fast multi-contour box search.

Each row of a uint8 score map is cut into *unimodal* segments (cut at the
row's valleys) for the foreground and into *U-shaped* segments (cut at the
row's peaks, with the map's left / right outside as the first / last
valleys) for the background. A unimodal segment meets every upper level set
`{S > k}` in one interval, a U-shaped one every lower level set `{S <= k}`.
Linking each segment's peak to a higher 8-neighbour in the row above / below
(foreground), or each segment's valley to a lower 4-neighbour (background,
the outside of the map being lowest), gives forests whose trees ("basins")
meet every level set in one connected piece. The components of `{S > k}` and
its holes are then unions of basins joined by basin-to-basin edges whose
weight (best `min` / `max` of two adjacent pixel values) clears the level;
see `_groups.py`.

Why it is exact: a linked segment's peak has a higher (or equal-valued,
later) neighbour in its target segment, so whenever any pixel of a basin is
above a level, a chain of intervals above that level joins it to the
basin's root; and two basins lie in one component of `{S > k}` iff a chain
of adjacent pixel pairs above k, i.e. of basin edges of weight > k, joins
them (dually for `{S <= k}` with 4-adjacency). The fuzz tests compare the
resulting boxes with `cv2.findContours` on thousands of maps.

Pixels are compared by (value, raster index), so there are no ties. All
arrays cover a batch of maps of one shape stacked row-wise.
"""

import cv2
import numpy as np

from wsol_tf.evaluation._edges import column_runs
from wsol_tf.evaluation._edges import diagonal_edges
from wsol_tf.evaluation._edges import unique_edges


def _jump(parent):
    """Pointer jumping to the root of each tree of a forest."""
    while True:
        grand = parent[parent]
        if np.array_equal(grand, parent):
            return parent
        parent = grand


def dense_roots(parent):
    """Dense ids 0..n-1 of the roots; `ids[x]` is the id of x's root."""
    parent = _jump(parent)
    is_root = parent == np.arange(parent.size)
    lut = np.cumsum(is_root, dtype=np.int64) - 1
    return lut[parent], np.flatnonzero(is_root)


def _turning_points(s8_rows):
    """Flat positions of the peaks and interior valleys of every row."""
    rows, width = s8_rows.shape
    up = np.empty((rows, width + 1), bool)  # step into column j is "up"
    up[:, 0] = True
    np.greater_equal(s8_rows[:, 1:], s8_rows[:, :-1], out=up[:, 1:width])
    up[:, width] = False
    turn = np.flatnonzero(up[:, 1:] != up[:, :-1])
    r, c = np.divmod(turn, width)
    is_peak = up.ravel()[r * (width + 1) + c]
    return turn, is_peak


_FG_OFFSETS = ((-1, -1), (-1, 0), (-1, 1), (1, -1), (1, 0), (1, 1))


def _fg_parent(flat, pos, height, width):
    """Flat position of the best higher 8-neighbour above / below, or pos."""
    r, c = np.divmod(pos, width)
    lr = r % height
    d_row = np.array([o[0] for o in _FG_OFFSETS])[:, None]
    d_col = np.array([o[1] for o in _FG_OFFSETS])[:, None]
    cand = pos[None, :] + d_row * width + d_col
    ok = ((lr > 0) | (d_row > 0)) & ((lr < height - 1) | (d_row < 0))
    ok &= (c + d_col >= 0) & (c + d_col < width)
    # Raster order of the candidates relative to pos: up row < pos < down row.
    rank = np.array([0, 1, 2, 4, 5, 6], np.int32)[:, None]
    score = flat[np.where(ok, cand, 0)].astype(np.int32) * 8 + rank
    score[~ok] = -16
    pick = score.argmax(axis=0)
    cols = np.arange(pos.size)
    better = score[pick, cols] > flat[pos].astype(np.int32) * 8 + 3
    return np.where(better, cand[pick, cols], pos)


def _bg_parent(flat, pos, height, width):
    """Best lower 4-neighbour above / below, pos itself, or -1 (outside)."""
    lr = (pos // width) % height
    value = flat[pos].astype(np.int32)
    target = pos.copy()
    up_v = flat[np.maximum(pos - width, 0)].astype(np.int32)
    down_v = flat[np.minimum(pos + width, flat.size - 1)].astype(np.int32)
    use_up = up_v <= value
    use_down = (down_v < value) & ~(use_up & (up_v <= down_v))
    target = np.where(use_up, pos - width, target)
    target = np.where(use_down, pos + width, target)
    target[(lr == 0) | (lr == height - 1)] = -1
    return target


def _segment_table(s8_rows, height):
    """Foreground / background segments of every row (see module doc)."""
    rows, width = s8_rows.shape
    turn, is_peak = _turning_points(s8_rows)
    peaks = turn[is_peak]
    peak_row = peaks // width
    rank = np.cumsum(is_peak) - 1  # index of the last peak at or before
    # Foreground: one segment per peak, from after the preceding interior
    # valley of its row (or the row start) to the next one.
    prev = np.flatnonzero(is_peak) - 1
    after_valley = prev >= 0
    after_valley[after_valley] = ~is_peak[prev[after_valley]]
    fg_start = np.where(
        after_valley, turn[np.maximum(prev, 0)] + 1, peak_row * width
    )
    # Background: per row the left outside, one segment per interior valley
    # and the right outside; segment k + row + 1 starts after peak k.
    n_fg = peaks.size
    per_row = np.bincount(peak_row, minlength=rows)
    row_first = np.cumsum(per_row) - per_row + np.arange(rows)
    bg_start = np.empty(n_fg + rows, np.int64)
    bg_start[row_first] = np.arange(rows) * width
    bg_start[np.arange(n_fg) + peak_row + 1] = peaks + 1
    valleys = turn[~is_peak]
    bg_ext = np.full(n_fg + rows, -1, np.int64)
    bg_ext[rank[~is_peak] + valleys // width + 1] = valleys
    bg_row = np.repeat(np.arange(rows), per_row + 1)
    return (fg_start, peaks, peak_row), (bg_start, bg_ext, bg_row)


def build_forests(s8):
    """Basins, their row / column extremes and adjacencies, for a batch.

    Args:
        s8: uint8 array [B, H, W].

    Returns:
        dict with keys "fg" and "bg", each a dict of numpy arrays. Basins are
        numbered per image (`local` ids, 0..count-1): per basin `image`,
        `root_value`, `root_pos`; `count` per image; per segment `seg_image`,
        `seg_basin`, `seg_row` (row in its map), `seg_val` (extreme value);
        per column run `run_image`, `run_basin`, `run_col`, `run_val`; and
        edges `edge_image`, `edge_a`, `edge_b`, `edge_w` (weight in uint8
        units). For "bg", basin 0 of every image is its outside (root value
        -1, position -1).
    """
    batch, height, width = s8.shape
    rows = batch * height
    s8_rows = np.ascontiguousarray(s8.reshape(rows, width))
    flat = s8_rows.ravel()
    s8_t = cv2.transpose(s8_rows)
    fg_seg, bg_seg = _segment_table(s8_rows, height)
    out = {}
    for mode, (starts, ext, seg_row) in (("fg", fg_seg), ("bg", bg_seg)):
        fg = mode == "fg"
        n_seg = starts.size
        real = ext >= 0
        seg_val = np.where(real, flat[np.maximum(ext, 0)], -1).astype(np.int16)
        seg_image = seg_row // height
        parent = np.arange(n_seg + (0 if fg else batch))
        if fg:
            target = _fg_parent(flat, ext, height, width)
            moved = np.flatnonzero(target != ext)
            parent[moved] = np.searchsorted(starts, target[moved], "right") - 1
        else:
            inner = np.flatnonzero(real)
            target = _bg_parent(flat, ext[inner], height, width)
            go = (target >= 0) & (target != ext[inner])
            parent[inner[go]] = np.searchsorted(starts, target[go], "right") - 1
            outside = ~real
            outside[inner[target < 0]] = True
            parent[np.flatnonzero(outside)] = n_seg + seg_image[outside]
        seg_basin, roots = dense_roots(parent)
        if fg:
            root_image = seg_image[roots]
            root_pos = ext[roots]
            root_value = seg_val[roots].astype(np.int64)
        else:
            # Every image's outside (virtual root n_seg + i) comes first.
            is_real = roots < n_seg
            safe = np.minimum(roots, n_seg - 1)
            root_image = np.where(is_real, seg_image[safe], roots - n_seg)
            order = np.argsort(root_image * 2 + is_real, kind="stable")
            new_id = np.empty_like(order)
            new_id[order] = np.arange(order.size)
            seg_basin = new_id[seg_basin[:n_seg]]
            roots, is_real = roots[order], is_real[order]
            root_image = root_image[order]
            safe = np.minimum(roots, n_seg - 1)
            root_pos = np.where(is_real, ext[safe], -1)
            root_value = np.where(is_real, seg_val[safe], -1).astype(np.int64)
        count = np.bincount(root_image, minlength=batch)
        first = np.cumsum(count) - count
        seg_local = seg_basin - first[seg_image]
        ltype = np.uint16 if count.max() < 65535 else np.int32
        seg_len = np.diff(np.append(starts, rows * width))
        labels = np.repeat(seg_local.astype(ltype), seg_len).reshape(
            rows, width
        )
        labels_t = cv2.transpose(labels)
        run, v_edge = column_runs(labels_t, s8_t, height, fg)
        # Horizontal edges between consecutive segments of one row.
        same = np.flatnonzero(seg_row[1:] == seg_row[:-1])
        h_edge = (
            seg_image[same],
            seg_local[same],
            seg_local[same + 1],
            flat[starts[same + 1] - 1],
        )
        edges = [v_edge, h_edge]
        if fg:
            edges += diagonal_edges(labels, s8_rows, height)
        e_img, e_a, e_b, e_w = (
            np.concatenate([e[i] for e in edges]) for i in range(4)
        )
        e_img, e_a, e_b, e_w = unique_edges(e_img, e_a, e_b, e_w, count, fg)
        out[mode] = dict(
            image=root_image,
            count=count,
            root_value=root_value,
            root_pos=root_pos,
            seg_image=seg_image,
            seg_basin=seg_local,
            seg_row=seg_row % height,
            seg_val=seg_val,
            run_image=run[1],
            run_basin=run[0],
            run_col=run[2],
            run_val=run[3].astype(np.int16),
            edge_image=e_img,
            edge_a=e_a,
            edge_b=e_b,
            edge_w=e_w,
        )
    return out
