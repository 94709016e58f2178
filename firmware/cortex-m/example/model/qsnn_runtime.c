/* qsnn_runtime.c - integer kernels of the qsnn-deploy C target. See qsnn_runtime.h and docs/targets/c.md.
 *
 * Exactness: accumulators are int32 (the code generator's design rules prove no partial sum overflows,
 * in any summation order); the requantize and LIF products are int64. Signed right shifts of negative
 * values are implementation-defined in C, so qsnn_floor_shift only ever shifts non-negative values.
 */
#include "qsnn_runtime.h"

int64_t qsnn_floor_shift(int64_t x, int32_t s)
{
    /* For x < 0, ~x = -x - 1 >= 0 (int64_t is two's complement by definition in C99 7.18.1.1) and
     * floor(x / 2^s) = ~(~x >> s): both shifts act on non-negative values, so this is exact everywhere. */
    if (x < 0) {
        return ~((~x) >> s);
    }
    return x >> s;
}

/* Weight idx of a packed (two 4-bit per byte, low nibble first) or int8 array, sign-extended. */
static int32_t weight_at(const uint8_t *w, int32_t packed, int32_t idx)
{
    if (packed) {
        uint32_t byte = w[idx >> 1];
        uint32_t nib = (idx & 1) ? (byte >> 4) : (byte & 15u);
        return (int32_t)(nib ^ 8u) - 8; /* sign-extend 4 bits without implementation-defined casts */
    }
    return (int32_t)(w[idx] ^ 0x80u) - 128; /* int8 two's complement without a uint8 -> int8 cast */
}

/* acc[o * stride] += value * w[first + o] for o < count: the scatter of one active input element. */
static void add_run(int32_t *acc, int32_t stride, const uint8_t *w, int32_t packed, int32_t first,
                    int32_t count, int32_t value)
{
    int32_t o = 0;
    if (packed && value == 1 && (first & 1) == 0) {
        /* Fast path for spikes on packed weights: one byte feeds two outputs. */
        const uint8_t *p = w + (first >> 1);
        for (; o + 1 < count; o += 2) {
            uint32_t byte = *p++;
            acc[o * stride] += (int32_t)((byte & 15u) ^ 8u) - 8;
            acc[(o + 1) * stride] += (int32_t)((byte >> 4) ^ 8u) - 8;
        }
    }
    for (; o < count; o++) {
        acc[o * stride] += value * weight_at(w, packed, first + o);
    }
}

void qsnn_conv_dense_u8(const qsnn_conv_t *cv, const uint8_t *in, int32_t *acc)
{
    int32_t o, py, px, u, v, c, kh, kw;
    for (o = 0; o < cv->out_c; o++) {
        for (py = 0; py < cv->out_h; py++) {
            for (px = 0; px < cv->out_w; px++) {
                int32_t sum = 0;
                for (u = 0; u < cv->pool; u++) {
                    for (v = 0; v < cv->pool; v++) {
                        int32_t oy = py * cv->pool + u;
                        int32_t ox = px * cv->pool + v;
                        for (c = 0; c < cv->in_c; c++) {
                            for (kh = 0; kh < cv->kh; kh++) {
                                int32_t iy = oy * cv->stride + kh - cv->pad;
                                if (iy < 0 || iy >= cv->in_h) {
                                    continue; /* zero padding */
                                }
                                for (kw = 0; kw < cv->kw; kw++) {
                                    int32_t ix = ox * cv->stride + kw - cv->pad;
                                    int32_t widx = ((c * cv->kh + kh) * cv->kw + kw) * cv->out_c + o;
                                    if (ix < 0 || ix >= cv->in_w) {
                                        continue;
                                    }
                                    sum += weight_at(cv->weight, cv->packed, widx) *
                                           (int32_t)in[(c * cv->in_h + iy) * cv->in_w + ix];
                                }
                            }
                        }
                    }
                }
                acc[(o * cv->out_h + py) * cv->out_w + px] = sum;
            }
        }
    }
}

/* Pooled output coordinate reached from input coordinate i through kernel tap k, or -1. */
static int32_t pooled_coord(int32_t i, int32_t k, int32_t pad, int32_t stride, int32_t conv_n, int32_t pool,
                            int32_t out_n)
{
    int32_t t = i + pad - k;
    int32_t oc, pc;
    if (t < 0) {
        return -1;
    }
    if (stride != 1) {
        if (t % stride != 0) {
            return -1;
        }
        t /= stride;
    }
    oc = t;
    if (oc >= conv_n) {
        return -1;
    }
    pc = (pool == 1) ? oc : oc / pool;
    return pc < out_n ? pc : -1;
}

void qsnn_conv_events(const qsnn_conv_t *cv, const uint8_t *in, int32_t *acc)
{
    int32_t plane = cv->out_h * cv->out_w;
    int32_t n_out = cv->out_c * plane;
    int32_t i, c, iy, ix, kh, kw;
    for (i = 0; i < n_out; i++) {
        acc[i] = 0;
    }
    for (c = 0; c < cv->in_c; c++) {
        for (iy = 0; iy < cv->in_h; iy++) {
            const uint8_t *row = in + (c * cv->in_h + iy) * cv->in_w;
            for (ix = 0; ix < cv->in_w; ix++) {
                int32_t value = row[ix];
                if (value == 0) {
                    continue; /* only active inputs do work */
                }
                for (kh = 0; kh < cv->kh; kh++) {
                    int32_t py = pooled_coord(iy, kh, cv->pad, cv->stride, cv->conv_h, cv->pool, cv->out_h);
                    if (py < 0) {
                        continue;
                    }
                    for (kw = 0; kw < cv->kw; kw++) {
                        int32_t px =
                            pooled_coord(ix, kw, cv->pad, cv->stride, cv->conv_w, cv->pool, cv->out_w);
                        if (px < 0) {
                            continue;
                        }
                        add_run(acc + py * cv->out_w + px, plane, cv->weight, cv->packed,
                                ((c * cv->kh + kh) * cv->kw + kw) * cv->out_c, cv->out_c, value);
                    }
                }
            }
        }
    }
}

void qsnn_linear_dense_u8(const qsnn_linear_t *fc, const uint8_t *in, int32_t *acc)
{
    int32_t o, i;
    for (o = 0; o < fc->out_n; o++) {
        int32_t sum = 0;
        for (i = 0; i < fc->in_n; i++) {
            sum += weight_at(fc->weight, fc->packed, i * fc->out_n + o) * (int32_t)in[i];
        }
        acc[o] = sum;
    }
}

void qsnn_linear_events(const qsnn_linear_t *fc, const uint8_t *in, int32_t *acc)
{
    int32_t o, i;
    for (o = 0; o < fc->out_n; o++) {
        acc[o] = 0;
    }
    for (i = 0; i < fc->in_n; i++) {
        if (in[i] != 0) {
            add_run(acc, 1, fc->weight, fc->packed, i * fc->out_n, fc->out_n, (int32_t)in[i]);
        }
    }
}

void qsnn_requant(const qsnn_requant_t *rq, int32_t *x)
{
    int64_t rounding = rq->shift > 0 ? ((int64_t)1 << (rq->shift - 1)) : 0;
    int32_t c, k;
    for (c = 0; c < rq->channels; c++) {
        int64_t m = rq->mult[c];
        int64_t b = rq->bias[c] + rounding;
        int32_t *p = x + c * rq->per_channel;
        for (k = 0; k < rq->per_channel; k++) {
            /* The design rules prove the product fits int64 and the result fits int32. */
            p[k] = (int32_t)qsnn_floor_shift((int64_t)p[k] * m + b, rq->shift);
        }
    }
}

/* The LIF update of one neuron before saturation (ops.md#lif), in int64 where it cannot overflow. */
static int64_t lif_update(const qsnn_lif_t *lif, int64_t v, int32_t cur, int64_t half)
{
    int64_t th = lif->threshold;
    int reset = v > th;
    int64_t d;
    if (lif->reset_zero && reset) {
        v = 0;
    }
    d = qsnn_floor_shift(v * lif->decay_mult + half, lif->decay_shift);
    d += cur;
    if (!lif->reset_zero && reset) {
        d -= th;
    }
    return d;
}

int32_t qsnn_lif_step16(const qsnn_lif_t *lif, int16_t *v, const int32_t *cur, uint8_t *spikes)
{
    int64_t half = lif->decay_shift > 0 ? ((int64_t)1 << (lif->decay_shift - 1)) : 0;
    int32_t i, fired = 0;
    for (i = 0; i < lif->n; i++) {
        int64_t u = lif_update(lif, v[i], cur[i], half);
        int32_t s;
        if (u > INT16_MAX) {
            u = INT16_MAX;
        } else if (u < INT16_MIN) {
            u = INT16_MIN;
        }
        v[i] = (int16_t)u;
        s = u > lif->threshold;
        spikes[i] = (uint8_t)s;
        fired += s;
    }
    return fired;
}

int32_t qsnn_lif_step32(const qsnn_lif_t *lif, int32_t *v, const int32_t *cur, uint8_t *spikes)
{
    int64_t half = lif->decay_shift > 0 ? ((int64_t)1 << (lif->decay_shift - 1)) : 0;
    int32_t i, fired = 0;
    for (i = 0; i < lif->n; i++) {
        int64_t u = lif_update(lif, v[i], cur[i], half);
        int32_t s;
        if (u > INT32_MAX) {
            u = INT32_MAX;
        } else if (u < INT32_MIN) {
            u = INT32_MIN;
        }
        v[i] = (int32_t)u;
        s = u > lif->threshold;
        spikes[i] = (uint8_t)s;
        fired += s;
    }
    return fired;
}

int qsnn_argmax_u16(const uint16_t *counts, int32_t n)
{
    int32_t i, best = 0;
    for (i = 1; i < n; i++) {
        if (counts[i] > counts[best]) {
            best = i; /* strictly greater: the lowest index wins ties */
        }
    }
    return (int)best;
}

void qsnn_zero(void *p, size_t n)
{
    unsigned char *b = (unsigned char *)p;
    size_t i;
    for (i = 0; i < n; i++) {
        b[i] = 0;
    }
}

void qsnn_count_output(const uint8_t *spikes, int32_t n, uint16_t *counts, uint8_t *out)
{
    int32_t i;
    for (i = 0; i < n; i++) {
        counts[i] = (uint16_t)(counts[i] + spikes[i]);
        if (out != NULL) {
            out[i] = spikes[i];
        }
    }
}

void qsnn_copy_u16(uint16_t *dst, const uint16_t *src, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; i++) {
        dst[i] = src[i];
    }
}
