/* The protocol's antialiased bilinear resize of a uint8 image, computed
 * only where an output window needs it (the training crop of a resize, or
 * the whole resize).
 *
 * The arithmetic is that of TensorFlow's ScaleAndTranslate op with the
 * "triangle" kernel and antialiasing (what `tf.image.resize(...,
 * "bilinear", antialias=True)` runs): per output coordinate, a span of
 * source pixels weighted by the triangle kernel widened by the downscale
 * factor and normalised to sum 1, the rows pass first (into float), then
 * the columns pass, then clip to [0, 255] and round half to even, as
 * `wsol_tf.data.image_ops` rounds. Only the output window and the source
 * columns it reads are computed, and the work runs without the GIL.
 *
 * resized_crop(image, out, size_h, size_w, offset_y, offset_x)
 *   image: uint8 [H, W, C], C-contiguous;
 *   out: uint8 [h, w, C], C-contiguous, written: pixels offset_y .. +h,
 *   offset_x .. +w of the resize of `image` to size_h x size_w.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* One axis: for each output coordinate, the first source index, the
 * count of source pixels with a nonzero weight from there, and `span`
 * slots of normalised weights (the first `counts[x]` used).
 *
 * The op also multiplies the zero weights at the ends of a span; leaving
 * them out changes no sum (the partial sums are >= 0, and adding +0 to
 * them is exact), so the values stay the op's. */
typedef struct {
    int span;
    int *starts;
    int *counts;
    float *weights;
} Spans;

/* Clip to [0, 255], round half to even (as tf.round). */
static uint8_t to_uint8(float v) {
    v = v < 0.0f ? 0.0f : (v > 255.0f ? 255.0f : v);
    return (uint8_t)nearbyintf(v);
}

static float triangle(float x) {
    x = fabsf(x);
    return x < 1.0f ? 1.0f - x : 0.0f;
}

/* Output coordinates offset .. offset + n - 1 of a resize of `in_size`
 * source pixels to `size` (scale = size / in_size in float32, translation
 * -offset, as the op receives them). Returns 0, or -1 when out of memory. */
static int compute_spans(int n, int in_size, int size, int offset,
                         Spans *s) {
    const float scale = (float)size / (float)in_size;
    const float translate = -(float)offset;
    const float inv_scale = (float)(1.0 / scale);
    const float inv_translate = -inv_scale * translate;
    const float kernel_scale = inv_scale > 1.0f ? inv_scale : 1.0f;
    const float one_over_kernel_scale = 1.0f / kernel_scale;
    int span = 2 * (int)ceilf(1.0f * kernel_scale) + 1;
    int x, source;
    float *temp;
    if (span > in_size) span = in_size;
    s->span = span;
    s->starts = (int *)calloc((size_t)n, sizeof(int));
    s->counts = (int *)calloc((size_t)n, sizeof(int));
    s->weights = (float *)calloc((size_t)n * (size_t)span, sizeof(float));
    temp = (float *)malloc((size_t)span * sizeof(float));
    if (!s->starts || !s->counts || !s->weights || !temp) {
        free(temp);
        return -1;
    }
    for (x = 0; x < n; ++x) {
        const float col_f = (float)x + 0.5f;
        const float sample_f = col_f * inv_scale + inv_translate;
        int64_t start, end;
        float total = 0.0f;
        int k = 0, first = 0, j;
        if (sample_f < 0 || sample_f > (float)in_size) continue;
        start = (int64_t)ceilf(sample_f - 1.0f * kernel_scale - 0.5f);
        end = (int64_t)floorf(sample_f + 1.0f * kernel_scale - 0.5f);
        if (start < 0) start = 0;
        if (start > in_size - 1) start = in_size - 1;
        if (end < 0) end = 0;
        if (end > in_size - 1) end = in_size - 1;
        end += 1;
        if (end - start > span) end = start + span;
        for (source = (int)start; source < (int)end; ++source, ++k) {
            const float pos = (float)source + 0.5f - sample_f;
            temp[k] = triangle(pos * one_over_kernel_scale);
            total += temp[k];
        }
        if (!(fabsf(total) >= 1000.0f * FLT_MIN)) continue; /* all zero */
        while (k > 0 && temp[k - 1] == 0.0f) --k;
        while (first < k && temp[first] == 0.0f) ++first;
        {
            const float inv_total = 1.0f / total;
            for (j = first; j < k; ++j)
                s->weights[(size_t)x * span + (j - first)] =
                    temp[j] * inv_total;
        }
        s->starts[x] = (int)start + first;
        s->counts[x] = k - first;
    }
    free(temp);
    return 0;
}

static void free_spans(Spans *s) {
    free(s->starts);
    free(s->counts);
    free(s->weights);
}

/* Where the compiler can, a second copy of the two passes for AVX2 CPUs
 * (8 floats per instruction), picked at load time. No fused multiply-adds
 * either way (-ffp-contract=off). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \
    defined(__linux__)
#define MULTIVERSION __attribute__((target_clones("avx2", "default")))
#else
#define MULTIVERSION
#endif

/* acc[i] = sum over k < n, in order from 0, of w[k] * src[k * stride + i]:
 * the op's accumulation (0 + w0 s0 + w1 s1 + ...), written out for the
 * common span lengths so that the compiler vectorises along the row. */
#define ROW(k) (w[k] * (float)src[(size_t)(k) * stride + i])
MULTIVERSION
static void rows_pass(float *acc, const uint8_t *src, size_t stride,
                      const float *w, int n, size_t len) {
    size_t i;
    int k;
    switch (n) {
    case 0:
        for (i = 0; i < len; ++i) acc[i] = 0.0f;
        return;
    case 1:
        for (i = 0; i < len; ++i) acc[i] = 0.0f + ROW(0);
        return;
    case 2:
        for (i = 0; i < len; ++i) acc[i] = 0.0f + ROW(0) + ROW(1);
        return;
    case 3:
        for (i = 0; i < len; ++i) acc[i] = 0.0f + ROW(0) + ROW(1) + ROW(2);
        return;
    case 4:
        for (i = 0; i < len; ++i)
            acc[i] = 0.0f + ROW(0) + ROW(1) + ROW(2) + ROW(3);
        return;
    case 5:
        for (i = 0; i < len; ++i)
            acc[i] = 0.0f + ROW(0) + ROW(1) + ROW(2) + ROW(3) + ROW(4);
        return;
    default:
        for (i = 0; i < len; ++i) acc[i] = 0.0f;
        for (k = 0; k < n; ++k) {
            const uint8_t *row = src + (size_t)k * stride;
            const float wk = w[k];
            for (i = 0; i < len; ++i) acc[i] += wk * (float)row[i];
        }
    }
}
#undef ROW

/* The columns pass of one output row: per output pixel and channel, the
 * op's sum in span order, then clip and round. */
MULTIVERSION
static void cols_pass(uint8_t *dst, const float *row, const Spans *cols,
                      int c0, int out_w, int channels) {
    int x, j, c;
    for (x = 0; x < out_w; ++x) {
        const float *w = cols->weights + (size_t)x * cols->span;
        const float *src = row + (size_t)(cols->starts[x] - c0) * channels;
        const int n = cols->counts[x];
        uint8_t *out = dst + (size_t)x * channels;
        if (channels == 3) {
            float v0 = 0.0f, v1 = 0.0f, v2 = 0.0f;
            for (j = 0; j < n; ++j, src += 3) {
                v0 += w[j] * src[0];
                v1 += w[j] * src[1];
                v2 += w[j] * src[2];
            }
            out[0] = to_uint8(v0);
            out[1] = to_uint8(v1);
            out[2] = to_uint8(v2);
            continue;
        }
        for (c = 0; c < channels; ++c) {
            float v = 0.0f;
            for (j = 0; j < n; ++j) v += w[j] * src[(size_t)j * channels + c];
            out[c] = to_uint8(v);
        }
    }
}

/* The resample proper; returns 0, or -1 when out of memory. */
static int resample(const uint8_t *image, int in_h, int in_w, int channels,
                    uint8_t *out, int out_h, int out_w, int size_h,
                    int size_w, int offset_y, int offset_x) {
    Spans rows = {0, NULL, NULL, NULL}, cols = {0, NULL, NULL, NULL};
    float *inter = NULL;
    int ok = -1, y, x, c0, c1;
    size_t len;
    const size_t in_row = (size_t)in_w * channels;
    if (compute_spans(out_h, in_h, size_h, offset_y, &rows) < 0) goto done;
    if (compute_spans(out_w, in_w, size_w, offset_x, &cols) < 0) goto done;
    /* The source columns the output window reads. */
    c0 = in_w;
    c1 = 0;
    for (x = 0; x < out_w; ++x) {
        if (cols.counts[x] == 0) continue;
        if (cols.starts[x] < c0) c0 = cols.starts[x];
        if (cols.starts[x] + cols.counts[x] > c1)
            c1 = cols.starts[x] + cols.counts[x];
    }
    if (c1 <= c0) {
        c0 = 0;
        c1 = 1;
    }
    len = (size_t)(c1 - c0) * channels;
    inter = (float *)malloc((size_t)out_h * len * sizeof(float));
    if (!inter) goto done;
    /* Rows pass (into float), over the columns c0 .. c1 only. */
    for (y = 0; y < out_h; ++y)
        rows_pass(inter + (size_t)y * len,
                  image + (size_t)rows.starts[y] * in_row +
                      (size_t)c0 * channels,
                  in_row, rows.weights + (size_t)y * rows.span,
                  rows.counts[y], len);
    /* Columns pass, clip and round. */
    for (y = 0; y < out_h; ++y)
        cols_pass(out + (size_t)y * out_w * channels, inter + (size_t)y * len,
                  &cols, c0, out_w, channels);
    ok = 0;
done:
    free(inter);
    free_spans(&rows);
    free_spans(&cols);
    return ok;
}

static int get_buffer(PyObject *obj, Py_buffer *b, const char *name,
                      int writable) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_STRIDES;
    if (writable) flags |= PyBUF_WRITABLE;
    if (PyObject_GetBuffer(obj, b, flags) < 0) return -1;
    if (b->ndim != 3 || b->itemsize != 1 ||
        (b->format && strcmp(b->format, "B") != 0 &&
         strcmp(b->format, "=B") != 0 && strcmp(b->format, "@B") != 0)) {
        PyErr_Format(PyExc_ValueError,
                     "Expected `%s`: a C-contiguous uint8 [H, W, C] array. "
                     "Received: format=%s, ndim=%d",
                     name, b->format ? b->format : "B", b->ndim);
        PyBuffer_Release(b);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(resized_crop_doc,
"resized_crop(image, out, size_h, size_w, offset_y, offset_x)\n\n"
"Writes into `out` (uint8 [h, w, C]) pixels offset_y .. offset_y + h and\n"
"offset_x .. offset_x + w of the antialiased bilinear resize of `image`\n"
"(uint8 [H, W, C]) to size_h x size_w, as TensorFlow's ScaleAndTranslate\n"
"(triangle kernel, antialias) computes it, clipped and rounded half to\n"
"even. Both arrays C-contiguous.");

static PyObject *resized_crop(PyObject *self, PyObject *args) {
    PyObject *o_image, *o_out;
    Py_buffer image, out;
    int size_h, size_w, offset_y, offset_x, in_h, in_w, channels, status;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOiiii:resized_crop", &o_image, &o_out,
                          &size_h, &size_w, &offset_y, &offset_x))
        return NULL;
    if (get_buffer(o_image, &image, "image", 0) < 0) return NULL;
    if (get_buffer(o_out, &out, "out", 1) < 0) {
        PyBuffer_Release(&image);
        return NULL;
    }
    in_h = (int)image.shape[0];
    in_w = (int)image.shape[1];
    channels = (int)image.shape[2];
    if (in_h < 1 || in_w < 1 || channels < 1 || out.shape[2] != channels ||
        out.shape[0] < 1 || out.shape[1] < 1 || size_h < 1 || size_w < 1) {
        PyErr_Format(PyExc_ValueError,
                     "Expected a non-empty image and an output of the same "
                     "channels, positive sizes. Received: image [%d, %d, %d],"
                     " out [%zd, %zd, %zd], size %d x %d",
                     in_h, in_w, channels, out.shape[0], out.shape[1],
                     out.shape[2], size_h, size_w);
        PyBuffer_Release(&image);
        PyBuffer_Release(&out);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    status = resample((const uint8_t *)image.buf, in_h, in_w, channels,
                      (uint8_t *)out.buf, (int)out.shape[0],
                      (int)out.shape[1], size_h, size_w, offset_y, offset_x);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&image);
    PyBuffer_Release(&out);
    if (status < 0) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"resized_crop", resized_crop, METH_VARARGS, resized_crop_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_resample",
    "C kernel of the protocol's antialiased resize and training crop "
    "(optional).",
    -1, methods,
};

PyMODINIT_FUNC PyInit__resample(void) { return PyModule_Create(&module); }
