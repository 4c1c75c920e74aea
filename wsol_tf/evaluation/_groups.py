"""From basins to the boxes of every component / hole at every level.

Input: the per-mode dict of `_segments.build_forests` and, per image, a
lookup `qlut[v]` = number of CAM levels strictly below pixel value `v`, so
that a pixel is foreground at level index `l` iff `l < qlut[v]` and
background iff `qlut[v] <= l`. An edge of weight `w` joins its basins at
level `l` iff `l < qlut[w]` (foreground) or `qlut[w] <= l` (background).

Steps, vectorised over the batch:
1. Contract every basin that is joined to a neighbour with a "higher" root
   at every level where it exists (edge level == its root level). This is
   exact and removes most basins.
2. Bottleneck ("widest path") levels between all nodes of an image with a
   Floyd-Warshall over small dense uint8 matrices: nodes a and b lie in the
   same component at level l iff that level clears l.
3. Per node and level, the bounding box of its pixels present at that level
   from per-row / per-column extreme levels; groups take the union.
"""

import numpy as np

from wsol_tf.evaluation._segments import dense_roots

# Images with more basins / contracted nodes than this go through the
# per-level OpenCV path instead (noise-like maps only).
MAX_BASINS = 4096
MAX_NODES = 160


def _at(op, table, index, values):
    # ufunc.at is ~50x slower when the value dtype differs from the table's.
    op.at(table.reshape(-1), index, values.astype(table.dtype, copy=False))


def _empty_count(table, owner_step, owner_base, empty_size, fg, n_levels):
    """Per node and level: leading positions of its ragged `table` segment
    holding no pixel at that level (`table` is modified in place)."""
    if fg:  # running max per node; the offsets keep the nodes apart
        table += owner_step
        np.maximum.accumulate(table, out=table)
        table -= owner_step
    else:
        table -= owner_step
        np.minimum.accumulate(table, out=table)
        table += owner_step
    np.minimum(table, n_levels, out=table)
    table += owner_base
    n_nodes = empty_size.size
    counts = np.bincount(table, minlength=n_nodes * (n_levels + 1))
    below = np.cumsum(counts.reshape(n_nodes, n_levels + 1), axis=1)
    below = below[:, :n_levels]  # number of positions <= l
    return below if fg else empty_size[:, None] - below


def _extents(node, pos, q, length, n_nodes, fg, n_levels):
    """First and last position [n_nodes, n_levels] (int32) holding a pixel
    of each node at each level, from (node, position, extreme level)
    entries. A node's positions span a contiguous range."""
    pos = pos.astype(np.int64, copy=False)
    lo = np.full(n_nodes, length, np.int64)
    hi = np.full(n_nodes, -1, np.int64)
    np.minimum.at(lo, node, pos)
    np.maximum.at(hi, node, pos)
    size = np.maximum(hi - lo + 1, 0)
    offset = np.cumsum(size) - size
    owner = np.repeat(np.arange(n_nodes, dtype=np.int32), size)
    owner_step = owner * np.int32(n_levels + 2)
    owner_base = owner * np.int32(n_levels + 1)
    fill = 0 if fg else n_levels
    op = np.maximum if fg else np.minimum
    forward = np.full(owner.size, fill, np.int32)
    backward = np.full(owner.size, fill, np.int32)
    _at(op, forward, offset[node] + pos - lo[node], q)
    _at(op, backward, offset[node] + hi[node] - pos, q)
    args = (owner_step, owner_base, size, fg, n_levels)
    first = _empty_count(forward, *args) + np.minimum(lo, length)[:, None]
    last = hi[:, None] - _empty_count(backward, *args)
    return first.astype(np.int32), last.astype(np.int32)


def _level_lut(qlut):
    """lut[i, w + 1] = level of weight w (w = -1 -> 0)."""
    lut = np.zeros((qlut.shape[0], 257), np.uint8)
    lut[:, 1:] = qlut
    return lut


def group_boxes(forest, fg, qlut, n_levels, height, width, active):
    """Boxes of all components (fg=True) or holes (fg=False).

    Args:
        forest: dict from `build_forests` for this mode.
        fg: True for components of {S > k}, False for holes of it.
        qlut: int array [B, 256], values <= 255.
        n_levels: int array [B], number of levels of each image.
        height, width: map size.
        active: bool array [B]; other images are skipped.

    Returns:
        ((boxes int32 [N, 4] as pixel extents x0, y0, x1, y1, image [N],
        level [N]), bool array [B] of images too complex for this path).
    """
    batch = qlut.shape[0]
    l_max = int(n_levels.max())
    op = np.maximum if fg else np.minimum
    image, count = forest["image"], forest["count"]
    use = active & (count <= MAX_BASINS)
    first = np.cumsum(count) - count
    lut = _level_lut(qlut)
    flat_lut = lut.reshape(-1)

    def level_of(img, value):  # 1-D gather: cheaper than lut[img, value]
        return flat_lut[img * 257 + (value + 1)]

    q_root = level_of(image, forest["root_value"])
    key = forest["root_value"] * (1 << 40) + forest["root_pos"] + 1
    # 1. Contraction, from the edges.
    e_img = forest["edge_image"]
    ok = use[e_img]
    e_img = e_img[ok]
    ga = first[e_img] + forest["edge_a"][ok]
    gb = first[e_img] + forest["edge_b"][ok]
    e_lev = level_of(e_img, forest["edge_w"][ok])
    a_low = key[ga] < key[gb] if fg else key[ga] > key[gb]
    low = np.where(a_low, ga, gb)
    merge = e_lev == q_root[low]
    parent = np.arange(image.size)
    parent[low[merge]] = (ga + gb - low)[merge]
    node, roots = dense_roots(parent)
    node_img = image[roots]
    n_count = np.bincount(node_img, minlength=batch)
    crowded = use & (n_count > MAX_NODES)
    if crowded.any():
        result, worse = group_boxes(
            forest, fg, qlut, n_levels, height, width, active & ~crowded
        )
        return result, worse | crowded | (active & ~use)
    too_big = active & ~use
    sel = np.flatnonzero(use)
    if sel.size == 0:
        return _empty(), too_big
    slot = np.full(batch, -1)
    slot[sel] = np.arange(sel.size)
    n_first = np.cumsum(n_count) - n_count
    n_local = np.arange(roots.size) - n_first[node_img]
    node_q = q_root[roots]
    # 2. Node matrices and bottleneck levels.
    n_max = int(n_count[sel].max())
    mat = np.full((sel.size, n_max, n_max), 0 if fg else 255, np.uint8)
    na, nb = node[ga], node[gb]
    diff = na != nb
    base = slot[e_img[diff]] * n_max
    la, lb, lev = n_local[na[diff]], n_local[nb[diff]], e_lev[diff]
    _at(op, mat, (base + la) * n_max + lb, lev)
    _at(op, mat, (base + lb) * n_max + la, lev)
    kn = np.flatnonzero(use[node_img])
    ks, kl = slot[node_img[kn]], n_local[kn]
    mat[ks, kl, kl] = node_q[kn]
    inner = np.minimum if fg else np.maximum
    for k in range(n_max):
        op(mat, inner(mat[:, :, k : k + 1], mat[:, k : k + 1, :]), out=mat)
    # Representative = smallest node index of the group at each level.
    run = np.minimum(op.accumulate(mat, axis=1), l_max)
    index = np.swapaxes(run, 1, 2).astype(np.int32)
    index += (
        np.arange(sel.size * n_max, dtype=np.int32) * (l_max + 1)
    ).reshape(sel.size, n_max, 1)
    hist = np.bincount(index.ravel(), minlength=sel.size * n_max * (l_max + 1))
    le = np.cumsum(hist.reshape(sel.size, n_max, l_max + 1), axis=2)[:, :, :-1]
    rep_table = (le if fg else n_max - le).reshape(-1)
    # 3. Leaf boxes: per node and level, the extent of its pixels.
    seg_node = node[first[forest["seg_image"]] + forest["seg_basin"]]
    seg_q = level_of(forest["seg_image"], forest["seg_val"])
    run_node = node[first[forest["run_image"]] + forest["run_basin"]]
    run_q = level_of(forest["run_image"], forest["run_val"])
    n_nodes = roots.size
    seg_row, run_col = forest["seg_row"], forest["run_col"]
    args = (n_nodes, fg, l_max)
    top, bottom = _extents(seg_node, seg_row, seg_q, height, *args)
    left, right = _extents(run_node, run_col, run_q, width, *args)
    # 4. Alive (node, level) pairs and the union per group.
    if fg:
        start, stop = np.zeros(kn.size, np.int64), node_q[kn].astype(np.int64)
    else:
        start = node_q[kn].astype(np.int64)
        stop = n_levels[node_img[kn]]
    span = np.maximum(stop - start, 0)
    pn = np.repeat(kn, span)
    pl = np.arange(pn.size) - np.repeat(np.cumsum(span) - span - start, span)
    pi = slot[node_img[pn]]
    pb = n_local[pn]
    rep = rep_table[(pi * n_max + pb) * l_max + pl]
    gid = (pi * l_max + pl) * n_max + rep
    leaf = pn * l_max + pl
    size = sel.size * l_max * n_max
    box = []
    for init, src, red in (
        (width, left, np.minimum),
        (height, top, np.minimum),
        (-1, right, np.maximum),
        (-1, bottom, np.maximum),
    ):
        dest = np.full(size, init, np.int32)
        red.at(dest, gid, src.reshape(-1)[leaf])
        box.append(dest)
    own = rep == pb
    if not fg:
        own &= rep != 0
    g = gid[own]
    boxes = np.stack([d[g] for d in box], axis=1)
    return (boxes, sel[pi[own]], pl[own]), too_big


def _empty():
    return (
        np.zeros((0, 4), np.int32),
        np.zeros(0, np.int64),
        np.zeros(0, np.int64),
    )
