/* C kernel of BoxEvaluator's multi-contour (MaxBoxAccV2) path.
 *
 * For every uint8 score map S8 and its sorted CAM levels L, the best
 * protocol IoU over the boxes of all `cv2.findContours(RETR_TREE)` contours
 * of {S8 > L} and the map's GT boxes, for all levels in one pass:
 *
 * - outer contours are the 8-connected components of {S8 > L}: union-find
 *   over the pixels in decreasing level-bucket order (counting sort on
 *   "number of levels below the value"); after adding every pixel > L,
 *   each live set holds the pixel extent of one component, whose box is
 *   (x0, y0, min(x1 + 1, W - 1), min(y1 + 1, H - 1));
 * - hole contours are the 4-connected components of {S8 <= L} that do not
 *   touch the border: union-find in increasing bucket order; a hole's
 *   contour box is its extent grown by one pixel, i.e.
 *   (x0 - 1, y0 - 1, min(x1 + 2, W - 1), min(y1 + 2, H - 1));
 * - no foreground: the single box (0, 0, 0, 0).
 *
 * Memory: about 30 bytes per pixel of one map, allocated once per call.
 *
 * These are the conventions of `cam_to_boxes.py`; the IoU is `box_ops` /
 * wsolevaluation's: int64 counts with
 * the inclusive +1 convention, one float64 division, 0 for a non-positive
 * union. Plain CPython C API and the buffer protocol (no numpy headers);
 * the GIL is released during the work.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Pixels live on the map padded by one never-present pixel on every side
 * (no bound checks). A bitmap `pres` (one bit per padded pixel, small
 * enough for L1) says which pixels are present; a present pixel's lab[p] is
 * the id of the set it joined, and the union-find runs over the compact
 * array of sets (parent id, rank, extent, border flag), which stays in
 * cache. */
typedef struct {
    int32_t parent;
    int16_t x0, y0, x1, y1;
    uint8_t rank, border;
} Comp;

typedef struct {
    int32_t *lab;   /* [(H+2)(W+2)] set id of each present pixel */
    uint8_t *pres;  /* [(H+2) * row_bytes] presence bits */
    Comp *comp;     /* [H W] */
    int32_t *act;   /* [H W] ids of live sets, lazily compacted */
    int32_t *xy;    /* [H W] pixels in bucket order, (y << 16) | x */
    int32_t *start; /* [5 L + 9] bucket starts and fill pointers */
    Py_ssize_t n_act, n_comp;
} Work;

/* Bytes per bitmap row: padded width, plus one for the 16-bit reads. */
#define ROW_BYTES(wd) ((Py_ssize_t)(((wd) + 2) >> 3) + 2)

/* For a ring mask of present neighbours (bit k = ring position k, see
 * `ring` in process_image), the positions to link: 8-connectivity, one per
 * run of consecutive present positions (consecutive ring positions are
 * 4-adjacent, so already one set); 4-connectivity, one per group of
 * present 4-neighbours (odd positions) chained through present diagonals
 * (e.g. U and R are one set when UR is present). */
static uint8_t n_starts8[256], starts8[256][4];
static uint8_t n_starts4[256], starts4[256][4];
static uint8_t rev3[8];

#define BIT(m, k) (((m) >> ((k) & 7)) & 1)

/* The member of the run (step 1) / group (step 2) starting at s to read:
 * the left, then upper neighbours first (written most recently in bucket
 * order, so still cached). */
static uint8_t pick_member(int m, int s, int step) {
    /* rank[position]: 7 (L), 1 (U), 0 (UL), 2 (UR), 3 (R), 5, 4, 6. */
    static const int rank[8] = {2, 1, 3, 4, 6, 5, 7, 0};
    int best = s, pos = s, next;
    for (;;) {
        next = (pos + step) & 7;
        if (next == s || !BIT(m, next) || (step == 2 && !BIT(m, pos + 1)))
            break;
        pos = next;
        if (rank[pos] < rank[best]) best = pos;
    }
    return (uint8_t)best;
}

static void init_tables(void) {
    int m, k;
    for (m = 0; m < 256; ++m) {
        n_starts8[m] = n_starts4[m] = 0;
        for (k = 0; k < 8; ++k)
            if (BIT(m, k) && !BIT(m, k + 7))
                starts8[m][n_starts8[m]++] = (uint8_t)k;
        if (m == 255) starts8[m][n_starts8[m]++] = 0;
        for (k = 1; k < 8; k += 2)
            if (BIT(m, k) && !(BIT(m, k + 6) && BIT(m, k + 7)))
                starts4[m][n_starts4[m]++] = (uint8_t)k;
        if (n_starts4[m] == 0 && (m & 0xaa)) starts4[m][n_starts4[m]++] = 1;
        for (k = 0; k < n_starts8[m]; ++k)
            starts8[m][k] = pick_member(m, starts8[m][k], 1);
        for (k = 0; k < n_starts4[m]; ++k)
            starts4[m][k] = pick_member(m, starts4[m][k], 2);
    }
    for (k = 0; k < 8; ++k)
        rev3[k] = (uint8_t)(((k & 1) << 2) | (k & 2) | ((k >> 2) & 1));
}

/* Presence bits of padded columns x .. x + 2 of a bitmap row. */
static inline unsigned bits3(const uint8_t *row, int32_t x) {
    const uint8_t *b = row + (x >> 3);
    return ((unsigned)b[0] | ((unsigned)b[1] << 8)) >> (x & 7) & 7u;
}

/* Presence bit of padded column x of a bitmap row. */
static inline unsigned bit1(const uint8_t *row, int32_t x) {
    return (row[x >> 3] >> (x & 7)) & 1u;
}

/* Ring mask of the present neighbours of map pixel (x, y), whose padded
 * bitmap row is `row` (row_bytes apart). The own row is read byte by byte:
 * a wider read of the byte stored for the previous pixel would stall
 * store-to-load forwarding. */
static inline unsigned ring_mask(const uint8_t *row, Py_ssize_t rb,
                                 int32_t x) {
    unsigned up = bits3(row - rb, x), down = bits3(row + rb, x);
    return up | bit1(row, x + 2) << 3 | (unsigned)rev3[down] << 4 |
           bit1(row, x) << 7;
}

/* Root id of set c, with path halving. */
static inline int32_t find_root(Comp *comp, int32_t c) {
    int32_t g;
    while (comp[c].parent != c) {
        g = comp[comp[c].parent].parent;
        comp[c].parent = g;
        c = g;
    }
    return c;
}

/* Pixel p (x, y) starts a new set. */
static inline void new_set(Work *w, int32_t p, int32_t x, int32_t y,
                           uint8_t border) {
    int32_t id = (int32_t)w->n_comp++;
    Comp *c = w->comp + id;
    c->parent = id;
    c->rank = 0;
    c->x0 = c->x1 = (int16_t)x;
    c->y0 = c->y1 = (int16_t)y;
    c->border = border;
    w->lab[p] = id;
    w->act[w->n_act++] = id;
}

/* Pixel p (x, y) joins the set of root id r. */
static inline void join_set(Work *w, int32_t p, int32_t r, int32_t x,
                            int32_t y, uint8_t border) {
    /* Branches, not conditional moves: they rarely store, so consecutive
     * pixels of one set do not wait on each other's stores. */
    Comp *c = w->comp + r;
    w->lab[p] = r;
    if (border) c->border = 1;
    if (x < c->x0) c->x0 = (int16_t)x;
    if (x > c->x1) c->x1 = (int16_t)x;
    if (y < c->y0) c->y0 = (int16_t)y;
    if (y > c->y1) c->y1 = (int16_t)y;
}

/* Merges the sets of root ids a and b; returns the root of the union. */
static inline int32_t link_roots(Comp *comp, int32_t a, int32_t b) {
    Comp *ca, *cb;
    int32_t t;
    if (a == b) return a;
    if (comp[a].rank < comp[b].rank) { /* union by rank */
        t = a; a = b; b = t;
    } else if (comp[a].rank == comp[b].rank) {
        comp[a].rank += 1;
    }
    ca = comp + a;
    cb = comp + b;
    cb->parent = a;
    ca->border |= cb->border;
    ca->x0 = cb->x0 < ca->x0 ? cb->x0 : ca->x0;
    ca->y0 = cb->y0 < ca->y0 ? cb->y0 : ca->y0;
    ca->x1 = cb->x1 > ca->x1 ? cb->x1 : ca->x1;
    ca->y1 = cb->y1 > ca->y1 ? cb->y1 : ca->y1;
    return a;
}

/* Drops the sets of the active list that were merged into others. */
static void compact_sets(Work *w) {
    Py_ssize_t i, kept = 0;
    int32_t id;
    for (i = 0; i < w->n_act; ++i) {
        id = w->act[i];
        if (w->comp[id].parent == id) w->act[kept++] = id;
    }
    w->n_act = kept;
}

/* Best IoU of one box against the valid GT boxes (-1 if none is valid). */
static double box_best_iou(int64_t bx0, int64_t by0, int64_t bx1,
                           int64_t by1, const int64_t *gt,
                           const uint8_t *valid, Py_ssize_t k) {
    double best = -1.0, iou;
    int64_t area_b = (bx1 - bx0 + 1) * (by1 - by0 + 1);
    int64_t iw, ih, inter, area_g, uni;
    Py_ssize_t g;
    for (g = 0; g < k; ++g, gt += 4) {
        if (!valid[g]) continue;
        iw = (bx1 < gt[2] ? bx1 : gt[2]) - (bx0 > gt[0] ? bx0 : gt[0]) + 1;
        ih = (by1 < gt[3] ? by1 : gt[3]) - (by0 > gt[1] ? by0 : gt[1]) + 1;
        if (iw < 0) iw = 0;
        if (ih < 0) ih = 0;
        inter = iw * ih;
        area_g = (gt[2] - gt[0] + 1) * (gt[3] - gt[1] + 1);
        uni = area_b + area_g - inter;
        iou = uni <= 0 ? 0.0 : (double)inter / (double)uni;
        if (iou > best) best = iou;
    }
    return best;
}

static void process_image(Work *w, const uint8_t *s, int32_t h, int32_t wd,
                          const int64_t *lv, Py_ssize_t nl, const int64_t *gt,
                          const uint8_t *valid, Py_ssize_t k, double *out) {
    const int32_t n = h * wd, stride = wd + 2;
    /* The 8 neighbours in ring order: consecutive ones (cyclically) are
     * 4-adjacent, so present consecutive ones are already one component
     * and one link per run of present neighbours suffices. */
    const int32_t ring[8] = {-stride - 1, -stride, -stride + 1, 1,
                             stride + 1, stride, stride - 1, -1};
    const Py_ssize_t rb = ROW_BYTES(wd);
    const size_t pres_bytes = (size_t)(h + 2) * (size_t)rb;
    int32_t *lab = w->lab;
    Comp *comp = w->comp;
    uint8_t *row;
    const Comp *c;
    int32_t *start = w->start, *fill = w->start + 4 * (nl + 2), qlut[256];
    int32_t p, xy, x, y, r, stop, idx, t;
    unsigned mask;
    uint8_t border;
    Py_ssize_t j, i;
    double best, v;

    /* Counting sort by bucket qlut[v] = number of levels below v (a pixel
     * is foreground at level j iff its bucket is > j): xy[start[b] ..
     * start[b + 1]) = pixels of bucket b, in raster order. */
    for (t = 0, x = 0; x < 256; ++x) {
        while (t < nl && lv[t] < x) ++t;
        qlut[x] = t;
    }
    /* Four interleaved histograms: neighbours often share a bucket, and
     * one counter would chain every increment on the previous store. */
    memset(start, 0, 4 * (nl + 2) * sizeof(int32_t));
    for (p = 0; p + 4 <= n; p += 4) {
        start[qlut[s[p]] + 1]++;
        start[nl + 2 + qlut[s[p + 1]] + 1]++;
        start[2 * (nl + 2) + qlut[s[p + 2]] + 1]++;
        start[3 * (nl + 2) + qlut[s[p + 3]] + 1]++;
    }
    for (; p < n; ++p) start[qlut[s[p]] + 1]++;
    for (i = 1; i < nl + 2; ++i)
        start[i] += start[i - 1] + start[nl + 2 + i] +
                    start[2 * (nl + 2) + i] + start[3 * (nl + 2) + i];
    memcpy(fill, start, (nl + 1) * sizeof(int32_t));
    for (y = 0, p = 0; y < h; ++y)
        for (x = 0; x < wd; ++x, ++p)
            w->xy[fill[qlut[s[p]]]++] = (y << 16) | x;

    /* Outer contours: 8-connected components of {S8 > L}, high to low. */
    memset(w->pres, 0, pres_bytes);
    w->n_act = w->n_comp = 0;
    for (j = nl - 1; j >= 0; --j) {
        /* Add bucket j + 1 (raster order within a bucket). */
        for (idx = start[j + 1]; idx < start[j + 2]; ++idx) {
            xy = w->xy[idx];
            x = xy & 0xffff;
            y = xy >> 16;
            p = (y + 1) * stride + x + 1;
            row = w->pres + (y + 1) * rb;
            mask = ring_mask(row, rb, x);
            row[(x + 1) >> 3] |= (uint8_t)(1u << ((x + 1) & 7));
            if (mask == 0) {
                new_set(w, p, x, y, 0);
                continue;
            }
            r = find_root(comp, lab[p + ring[starts8[mask][0]]]);
            join_set(w, p, r, x, y, 0);
            for (t = 1; t < n_starts8[mask]; ++t)
                r = link_roots(
                    comp, r, find_root(comp, lab[p + ring[starts8[mask][t]]]));
        }
        compact_sets(w);
        if (w->n_act == 0) {
            out[j] = box_best_iou(0, 0, 0, 0, gt, valid, k);
            continue;
        }
        best = -1.0;
        for (i = 0; i < w->n_act; ++i) {
            c = w->comp + w->act[i];
            v = box_best_iou(c->x0, c->y0,
                             c->x1 + 1 < wd - 1 ? c->x1 + 1 : wd - 1,
                             c->y1 + 1 < h - 1 ? c->y1 + 1 : h - 1, gt,
                             valid, k);
            if (v > best) best = v;
        }
        out[j] = best;
    }

    /* Holes: 4-connected components of {S8 <= L} off the border, low to
     * high. */
    memset(w->pres, 0, pres_bytes);
    w->n_act = w->n_comp = 0;
    idx = 0;
    for (j = 0; j < nl; ++j) {
        stop = start[j + 1];
        while (idx < stop) {
            xy = w->xy[idx++];
            x = xy & 0xffff;
            y = xy >> 16;
            p = (y + 1) * stride + x + 1;
            border = x == 0 || y == 0 || x == wd - 1 || y == h - 1;
            row = w->pres + (y + 1) * rb;
            mask = ring_mask(row, rb, x);
            row[(x + 1) >> 3] |= (uint8_t)(1u << ((x + 1) & 7));
            if (n_starts4[mask] == 0) {
                new_set(w, p, x, y, border);
                continue;
            }
            r = find_root(comp, lab[p + ring[starts4[mask][0]]]);
            join_set(w, p, r, x, y, border);
            for (t = 1; t < n_starts4[mask]; ++t)
                r = link_roots(
                    comp, r, find_root(comp, lab[p + ring[starts4[mask][t]]]));
        }
        compact_sets(w);
        best = out[j];
        for (i = 0; i < w->n_act; ++i) {
            c = w->comp + w->act[i];
            if (c->border) continue;
            v = box_best_iou(c->x0 - 1, c->y0 - 1,
                             c->x1 + 2 < wd - 1 ? c->x1 + 2 : wd - 1,
                             c->y1 + 2 < h - 1 ? c->y1 + 2 : h - 1, gt,
                             valid, k);
            if (v > best) best = v;
        }
        out[j] = best;
    }
}

static int native_little(void) {
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

/* True when the buffer's struct format is one native scalar of `codes`. */
static int format_is(const Py_buffer *b, const char *codes, Py_ssize_t size) {
    const char *f = b->format ? b->format : "B";
    if (*f == '@' || *f == '=' || (*f == '<' && native_little()) ||
        ((*f == '>' || *f == '!') && !native_little()))
        ++f;
    return b->itemsize == size && f[0] != '\0' && f[1] == '\0' &&
           strchr(codes, f[0]) != NULL;
}

static int get_buffer(PyObject *obj, Py_buffer *b, const char *name,
                      int ndim, const char *codes, Py_ssize_t size,
                      int writable) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT;
    if (writable) flags |= PyBUF_WRITABLE;
    if (PyObject_GetBuffer(obj, b, flags) < 0) return -1;
    if (b->ndim != ndim || !format_is(b, codes, size)) {
        PyErr_Format(PyExc_ValueError,
                     "Expected `%s`: a C-contiguous %d-D array of item code "
                     "%s (%zd bytes). Received: %s.format=%s, %s.ndim=%d",
                     name, ndim, codes, size, name,
                     b->format ? b->format : "B", name, b->ndim);
        PyBuffer_Release(b);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(best_iou_doc,
"best_iou(s8, levels, n_levels, gt, gt_valid, out)\n\n"
"Multi-contour best IoU of a batch at all levels, written into `out`.\n\n"
"s8: uint8 [B, H, W]; levels: int64 [B, L] (the first n_levels[i] of row i\n"
"non-decreasing in 0..255); n_levels: int64 [B]; gt: int64 [B, K, 4];\n"
"gt_valid: bool [B, K]; out: float64 [B, L] (slots past n_levels[i] are\n"
"left untouched). All C-contiguous.");

static PyObject *best_iou(PyObject *self, PyObject *args) {
    PyObject *o[6];
    Py_buffer b[6];
    static const char *names[6] = {"s8", "levels", "n_levels",
                                   "gt", "gt_valid", "out"};
    static const int ndims[6] = {3, 2, 1, 3, 2, 2};
    static const char *codes[6] = {"B", "lq", "lq", "lq", "?bB", "d"};
    static const Py_ssize_t sizes[6] = {1, 8, 8, 8, 1, 8};
    Py_ssize_t batch, h, wd, nmax, k, i, j, n;
    const int64_t *levels, *n_levels;
    Work w;
    int got = 0, ok = 0;

    memset(&w, 0, sizeof(w));
    if (!PyArg_ParseTuple(args, "OOOOOO:best_iou", &o[0], &o[1], &o[2],
                          &o[3], &o[4], &o[5]))
        return NULL;
    for (got = 0; got < 6; ++got)
        if (get_buffer(o[got], &b[got], names[got], ndims[got], codes[got],
                       sizes[got], got == 5) < 0)
            goto done;
    batch = b[0].shape[0];
    h = b[0].shape[1];
    wd = b[0].shape[2];
    nmax = b[1].shape[1];
    k = b[3].shape[1];
    if (b[1].shape[0] != batch || b[2].shape[0] != batch ||
        b[3].shape[0] != batch || b[3].shape[2] != 4 ||
        b[4].shape[0] != batch || b[4].shape[1] != k ||
        b[5].shape[0] != batch || b[5].shape[1] != nmax) {
        PyErr_SetString(PyExc_ValueError,
                        "Expected s8 [B, H, W], levels [B, L], n_levels [B], "
                        "gt [B, K, 4], gt_valid [B, K], out [B, L]. "
                        "Received: mismatched shapes");
        goto done;
    }
    if (h < 1 || wd < 1 || h > 32767 || wd > 32767 ||
        (h + 2) * (wd + 2) > INT32_MAX / 2) {
        PyErr_Format(PyExc_ValueError,
                     "Expected 1 <= H, W < 32768 and (H + 2) * (W + 2) < "
                     "2**30. Received: H=%zd, W=%zd", h, wd);
        goto done;
    }
    levels = (const int64_t *)b[1].buf;
    n_levels = (const int64_t *)b[2].buf;
    for (i = 0; i < batch; ++i) {
        if (n_levels[i] < 0 || n_levels[i] > nmax) {
            PyErr_Format(PyExc_ValueError,
                         "Expected 0 <= n_levels[i] <= %zd. Received: "
                         "n_levels[%zd]=%lld", nmax, i,
                         (long long)n_levels[i]);
            goto done;
        }
        for (j = 0; j < n_levels[i]; ++j) {
            int64_t v = levels[i * nmax + j];
            if (v < 0 || v > 255 ||
                (j > 0 && v < levels[i * nmax + j - 1])) {
                PyErr_Format(PyExc_ValueError,
                             "Expected non-decreasing levels in [0, 255]. "
                             "Received: levels[%zd, %zd]=%lld", i, j,
                             (long long)v);
                goto done;
            }
        }
    }
    n = h * wd;
    if (batch > 0) {
        size_t padded = (size_t)(h + 2) * (size_t)(wd + 2);
        if ((w.lab = PyMem_RawMalloc(padded * sizeof(int32_t))) == NULL ||
            (w.comp = PyMem_RawMalloc(n * sizeof(Comp))) == NULL ||
            (w.act = PyMem_RawMalloc(n * sizeof(int32_t))) == NULL ||
            (w.xy = PyMem_RawMalloc(n * sizeof(int32_t))) == NULL ||
            (w.start = PyMem_RawMalloc((5 * nmax + 9) * sizeof(int32_t))) ==
                NULL ||
            (w.pres = PyMem_RawMalloc((size_t)(h + 2) * ROW_BYTES(wd))) ==
                NULL)
            goto nomem;
    }
    Py_BEGIN_ALLOW_THREADS
    for (i = 0; i < batch; ++i)
        process_image(&w, (const uint8_t *)b[0].buf + i * n, (int32_t)h,
                      (int32_t)wd, levels + i * nmax, (Py_ssize_t)n_levels[i],
                      (const int64_t *)b[3].buf + i * k * 4,
                      (const uint8_t *)b[4].buf + i * k, k,
                      (double *)b[5].buf + i * nmax);
    Py_END_ALLOW_THREADS
    ok = 1;
    goto done;
nomem:
    PyErr_NoMemory();
done:
    PyMem_RawFree(w.lab);
    PyMem_RawFree(w.pres);
    PyMem_RawFree(w.start);
    PyMem_RawFree(w.comp);
    PyMem_RawFree(w.act);
    PyMem_RawFree(w.xy);
    for (i = 0; i < got; ++i) PyBuffer_Release(&b[i]);
    if (!ok) return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"best_iou", best_iou, METH_VARARGS, best_iou_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fastboxes",
    "C kernel of BoxEvaluator's multi-contour path (optional).", -1, methods,
};

PyMODINIT_FUNC PyInit__fastboxes(void) {
    init_tables();
    return PyModule_Create(&module);
}
