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

/* Sign-extended low / high nibble of a packed byte, and an int8 byte (no implementation-defined casts). */
#define QSNN_LO(byte) ((int32_t)(((byte) & 15u) ^ 8u) - 8)
#define QSNN_HI(byte) ((int32_t)(((byte) >> 4) ^ 8u) - 8)
#define QSNN_S8(byte) ((int32_t)((byte) ^ 0x80u) - 128)

/* Accumulator slot of channel o of n (qsnn_runtime.h, "Accumulator layout"): when n is even, every full block
 * of 32 channels stores its 16 even channels first, then its 16 odd ones, so the low nibbles and the high
 * nibbles of 16 packed bytes each land in a contiguous run of 16 (plain vector adds); the channels after the
 * last full block keep their order. */
static int32_t slot(int32_t o, int32_t n)
{
    if ((n & 1) == 0 && o < (n & ~31)) {
        return (o & ~31) | ((o & 1) << 4) | ((o >> 1) & 15);
    }
    return o;
}

/* acc[slot(o)] += value * w[first + o] for o < count: the scatter of one active input element onto one
 * contiguous run of accumulators (conv accumulators are channels-last, so one kernel tap is one run).
 * count even implies first even (first is a multiple of count). */
static void add_run(int32_t *restrict acc, const uint8_t *restrict w, int32_t packed, int32_t first,
                    int32_t count, int32_t value)
{
    int32_t o = 0, j;
    if ((count & 1) == 0) {
        int32_t blocks = count >> 5;
        int32_t *a = acc;
        int32_t b;
        if (packed) {
            const uint8_t *p = w + (first >> 1);
            if (value == 1) { /* spikes: no multiply */
                for (b = 0; b < blocks; b++, p += 16, a += 32) {
                    for (j = 0; j < 16; j++) {
                        uint32_t byte = p[j];
                        a[j] += QSNN_LO(byte);
                        a[16 + j] += QSNN_HI(byte);
                    }
                }
            } else {
                for (b = 0; b < blocks; b++, p += 16, a += 32) {
                    for (j = 0; j < 16; j++) {
                        uint32_t byte = p[j];
                        a[j] += value * QSNN_LO(byte);
                        a[16 + j] += value * QSNN_HI(byte);
                    }
                }
            }
            for (o = blocks << 5; o < count; o += 2) { /* after the blocks: natural order, a byte per pair */
                uint32_t byte = w[(first + o) >> 1];
                acc[o] += value * QSNN_LO(byte);
                acc[o + 1] += value * QSNN_HI(byte);
            }
        } else {
            const uint8_t *p = w + first;
            for (b = 0; b < blocks; b++, p += 32, a += 32) {
                for (j = 0; j < 16; j++) {
                    a[j] += value * QSNN_S8((uint32_t)p[2 * j]);
                    a[16 + j] += value * QSNN_S8((uint32_t)p[2 * j + 1]);
                }
            }
            o = blocks << 5;
        }
    }
    for (; o < count; o++) {
        acc[o] += value * weight_at(w, packed, first + o); /* slot(o) == o past the blocks */
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
                acc[(py * cv->out_w + px) * cv->out_c + slot(o, cv->out_c)] = sum; /* channels-last */
            }
        }
    }
}

/* The kernel taps of one axis that reach a kept (pooled) output from input coordinate i: taps k0, k0 + stride,
 * ... (n of them) reach conv coordinates oc0, oc0 - 1, ...; tap j lands in pooled coordinate
 * (oc0 - j) / pool. pc0 = oc0 / pool and r0 = oc0 % pool let the caller walk that without dividing. */
typedef struct {
    int32_t k0, n, pc0, r0;
} qsnn_axis_t;

static void axis_taps(int32_t i, int32_t k, int32_t pad, int32_t stride, int32_t conv_n, int32_t pool,
                      int32_t out_n, qsnn_axis_t *a)
{
    int32_t t = i + pad; /* conv coordinate * stride + tap */
    int32_t lim = out_n * pool < conv_n ? out_n * pool : conv_n; /* conv coordinates inside a full window */
    int32_t kmin = t - (lim - 1) * stride;
    int32_t kmax = t < k - 1 ? t : k - 1;
    int32_t oc0;
    a->n = 0;
    a->k0 = 0;
    a->pc0 = 0;
    a->r0 = 0;
    if (lim <= 0) {
        return;
    }
    if (kmin < 0) {
        kmin = 0;
    }
    if (kmin <= t) {
        kmin += (t - kmin) % stride; /* (t - k) must be a multiple of the stride */
    }
    if (kmin > kmax) {
        return;
    }
    oc0 = (t - kmin) / stride;
    a->k0 = kmin;
    a->n = (kmax - kmin) / stride + 1;
    a->pc0 = oc0 / pool;
    a->r0 = oc0 % pool;
}

void qsnn_conv_events(const qsnn_conv_t *cv, const uint8_t *in, int32_t *acc)
{
    int32_t n_out = cv->out_c * cv->out_h * cv->out_w;
    int32_t oc = cv->out_c;
    int32_t i, c, iy, ix, jy, jx;
    for (i = 0; i < n_out; i++) {
        acc[i] = 0;
    }
    for (c = 0; c < cv->in_c; c++) {
        for (iy = 0; iy < cv->in_h; iy++) {
            const uint8_t *row = in + (c * cv->in_h + iy) * cv->in_w;
            qsnn_axis_t ay;
            axis_taps(iy, cv->kh, cv->pad, cv->stride, cv->conv_h, cv->pool, cv->out_h, &ay);
            if (ay.n == 0) {
                continue; /* this row reaches no kept output */
            }
            for (ix = 0; ix < cv->in_w; ix++) {
                int32_t value = row[ix];
                int32_t kh, py, ry;
                qsnn_axis_t ax;
                if (value == 0) {
                    continue; /* only active inputs do work */
                }
                axis_taps(ix, cv->kw, cv->pad, cv->stride, cv->conv_w, cv->pool, cv->out_w, &ax);
                kh = ay.k0;
                py = ay.pc0;
                ry = ay.r0;
                for (jy = 0; jy < ay.n; jy++) {
                    int32_t *acc_row = acc + py * cv->out_w * oc;
                    int32_t tap = (c * cv->kh + kh) * cv->kw + ax.k0;
                    int32_t px = ax.pc0, rx = ax.r0;
                    for (jx = 0; jx < ax.n; jx++) {
                        add_run(acc_row + px * oc, cv->weight, cv->packed, tap * oc, oc, value);
                        tap += cv->stride;
                        if (rx == 0) {
                            rx = cv->pool - 1;
                            px--;
                        } else {
                            rx--;
                        }
                    }
                    kh += cv->stride;
                    if (ry == 0) {
                        ry = cv->pool - 1;
                        py--;
                    } else {
                        ry--;
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
        acc[slot(o, fc->out_n)] = sum;
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
            add_run(acc, fc->weight, fc->packed, i * fc->out_n, fc->out_n, (int32_t)in[i]);
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
        int32_t *p = x + slot(c, rq->channels); /* channels-last: channel c every rq->channels elements */
        for (k = 0; k < rq->per_channel; k++) {
            /* The design rules prove the product fits int64 and the result fits int32. */
            int32_t *q = p + k * rq->channels;
            *q = (int32_t)qsnn_floor_shift((int64_t)*q * m + b, rq->shift);
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

/* One neuron: update, saturate to [lo, hi] (the state type), fire on strictly greater. Returns the new
 * membrane, already within [lo, hi], and stores the spike. */
static int64_t lif_neuron(const qsnn_lif_t *lif, int64_t v, int32_t cur, int64_t half, int64_t lo, int64_t hi,
                          uint8_t *spike)
{
    int64_t u = lif_update(lif, v, cur, half);
    if (u > hi) {
        u = hi;
    } else if (u < lo) {
        u = lo;
    }
    *spike = (uint8_t)(u > lif->threshold);
    return u;
}

int32_t qsnn_lif_step16(const qsnn_lif_t *lif, int16_t *v, const int32_t *cur, uint8_t *spikes)
{
    int64_t half = lif->decay_shift > 0 ? ((int64_t)1 << (lif->decay_shift - 1)) : 0;
    int32_t per = lif->n / lif->channels;
    int32_t c, k, i = 0, fired = 0;
    for (c = 0; c < lif->channels; c++) {
        const int32_t *cc = cur + slot(c, lif->channels); /* cur is channels-last */
        for (k = 0; k < per; k++, i++) {
            v[i] = (int16_t)lif_neuron(lif, v[i], cc[k * lif->channels], half, INT16_MIN, INT16_MAX, &spikes[i]);
            fired += spikes[i];
        }
    }
    return fired;
}

int32_t qsnn_lif_step32(const qsnn_lif_t *lif, int32_t *v, const int32_t *cur, uint8_t *spikes)
{
    int64_t half = lif->decay_shift > 0 ? ((int64_t)1 << (lif->decay_shift - 1)) : 0;
    int32_t per = lif->n / lif->channels;
    int32_t c, k, i = 0, fired = 0;
    for (c = 0; c < lif->channels; c++) {
        const int32_t *cc = cur + slot(c, lif->channels); /* cur is channels-last */
        for (k = 0; k < per; k++, i++) {
            v[i] = (int32_t)lif_neuron(lif, v[i], cc[k * lif->channels], half, INT32_MIN, INT32_MAX, &spikes[i]);
            fired += spikes[i];
        }
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
