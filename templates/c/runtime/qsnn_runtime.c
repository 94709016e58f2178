/* qsnn_runtime.c - integer kernels of the qsnn-deploy C target. See qsnn_runtime.h and docs/targets/c.md.
 *
 * Exactness: accumulators are int32 (the code generator's design rules prove no partial sum overflows,
 * in any summation order); the requantize and LIF products are int64. Signed right shifts of negative
 * values are implementation-defined in C, so qsnn_floor_shift only ever shifts non-negative values.
 */
#include "qsnn_runtime.h"

/* Small helpers of the inner loops are inlined even at -Os (a call per neuron would cost more than the work);
 * the hot loops get functions of their own, so that the register allocator gives them the registers. */
#if defined(__GNUC__)
#define QSNN_INLINE static inline __attribute__((always_inline))
#define QSNN_NOINLINE __attribute__((noinline))
#if defined(__clang__) || __GNUC__ < 8
#define QSNN_NOIPA __attribute__((noinline))
#define QSNN_HOT __attribute__((noinline))
#else
#define QSNN_NOIPA __attribute__((noipa)) /* also no constant propagation into it */
/* A hot loop that GCC's -Os allocates badly (spills in the loop): compiled at -O2 whatever the build's level. */
#define QSNN_HOT __attribute__((noinline, optimize("O2")))
#endif
#else
#define QSNN_INLINE static inline
#define QSNN_NOINLINE
#define QSNN_NOIPA
#define QSNN_HOT
#endif

int64_t qsnn_floor_shift(int64_t x, int32_t s)
{
    /* For x < 0, ~x = -x - 1 >= 0 (int64_t is two's complement by definition in C99 7.18.1.1) and
     * floor(x / 2^s) = ~(~x >> s): both shifts act on non-negative values, so this is exact everywhere. */
    if (x < 0) {
        return ~((~x) >> s);
    }
    return x >> s;
}

/* Four bytes as a little-endian word, in portable C (compilers for little-endian cores load it in one go). */
static uint32_t load4(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
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

#if defined(__GNUC__) && defined(__arm__) && !defined(__ARM_FEATURE_CLZ)
/* lowest_set's table: the bit index of each top-5-bit value of (x & -x) * 0x077CB531. */
static const uint8_t debruijn_index[32] = {0,  1,  28, 2,  29, 14, 24, 3, 30, 22, 20, 15, 25, 17, 4,  8,
                                           31, 27, 13, 23, 21, 19, 16, 7, 26, 12, 18, 6,  11, 5,  10, 9};
#endif

/* Index of the lowest set bit of a nonzero word. */
QSNN_INLINE int32_t lowest_set(uint32_t x)
{
#if defined(__GNUC__) && (!defined(__arm__) || defined(__ARM_FEATURE_CLZ))
    return (int32_t)__builtin_ctz(x);
#elif defined(__GNUC__)
    /* No CLZ (the Cortex-M0): the lowest bit times a de Bruijn sequence puts a unique index in the top 5 bits. */
    return (int32_t)debruijn_index[((x & (0u - x)) * 0x077CB531u) >> 27];
#else
    int32_t n = 0;
    while ((x & 1u) == 0) {
        x >>= 1;
        n++;
    }
    return n;
#endif
}

/* Spike bits (qsnn_runtime.h, "Spikes are bits"): spike i, and one spike written. */
static uint32_t spike_at(const uint32_t *bits, int32_t i)
{
    return (bits[i >> 5] >> (i & 31)) & 1u;
}

static void set_spike(uint32_t *bits, int32_t i, uint32_t spike)
{
    uint32_t bit = (uint32_t)1 << (i & 31);
    bits[i >> 5] = spike ? (bits[i >> 5] | bit) : (bits[i >> 5] & ~bit);
}

/* Bits at .. at + width - 1 (1 <= width <= 32) of a bit array as the low bits of a word; reads the next word
 * only where the field crosses into it. */
QSNN_INLINE uint32_t bits_at(const uint32_t *bits, int32_t at, int32_t width)
{
    int32_t k = at >> 5, sh = at & 31;
    uint32_t field = bits[k] >> sh;
    if (sh + width > 32) {
        field |= bits[k + 1] << (32 - sh);
    }
    return width == 32 ? field : field & (((uint32_t)1 << width) - 1u);
}

/* Input element i of a uint8 map (in8) or of spike bits (in8 NULL). */
static int32_t input_at(const uint8_t *in8, const uint32_t *bits, int32_t i)
{
    return in8 != NULL ? (int32_t)in8[i] : (int32_t)spike_at(bits, i);
}

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
            for (o = blocks << 5; o < count; o += 2, p++, a += 2) { /* after the blocks: natural order, a byte per pair */
                uint32_t byte = *p;
                a[0] += value * QSNN_LO(byte);
                a[1] += value * QSNN_HI(byte);
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

/* The dense conv of qsnn_conv_dense_u8 (in8) and qsnn_conv_dense_bits (in8 NULL). */
static void conv_dense(const qsnn_conv_t *cv, const uint8_t *in8, const uint32_t *bits, int32_t *acc)
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
                                           input_at(in8, bits, (c * cv->in_h + iy) * cv->in_w + ix);
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

void qsnn_conv_dense_u8(const qsnn_conv_t *cv, const uint8_t *in, int32_t *acc)
{
    conv_dense(cv, in, NULL, acc);
}

void qsnn_conv_dense_bits(const qsnn_conv_t *cv, const uint32_t *in, int32_t *acc)
{
    conv_dense(cv, NULL, in, acc);
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

/* The scatter of one active input element (channel c, taps ay of its row, column ix) times value. */
static void scatter_input(const qsnn_conv_t *cv, int32_t *acc, int32_t c, const qsnn_axis_t *ay, int32_t ix,
                          int32_t value)
{
    const int32_t oc = cv->out_c;
    int32_t kh = ay->k0, py = ay->pc0, ry = ay->r0, jy, jx;
    qsnn_axis_t ax;
    axis_taps(ix, cv->kw, cv->pad, cv->stride, cv->conv_w, cv->pool, cv->out_w, &ax);
    for (jy = 0; jy < ay->n; jy++) {
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

/* The event-driven conv of qsnn_conv_events (in8) and qsnn_conv_events_bits (in8 NULL): input rows that
 * reach a kept output, and in them the active elements only. */
static void conv_events(const qsnn_conv_t *cv, const uint8_t *in8, const uint32_t *bits, int32_t *acc)
{
    int32_t n_out = cv->out_c * cv->out_h * cv->out_w;
    int32_t i, c, iy, ix;
    for (i = 0; i < n_out; i++) {
        acc[i] = 0;
    }
    for (c = 0; c < cv->in_c; c++) {
        for (iy = 0; iy < cv->in_h; iy++) {
            int32_t first = (c * cv->in_h + iy) * cv->in_w; /* the row's first element */
            qsnn_axis_t ay;
            axis_taps(iy, cv->kh, cv->pad, cv->stride, cv->conv_h, cv->pool, cv->out_h, &ay);
            if (ay.n == 0) {
                continue; /* this row reaches no kept output */
            }
            if (in8 != NULL) {
                for (ix = 0; ix < cv->in_w; ix++) {
                    if (in8[first + ix] != 0) { /* only active inputs do work */
                        scatter_input(cv, acc, c, &ay, ix, (int32_t)in8[first + ix]);
                    }
                }
            } else {
                for (ix = 0; ix < cv->in_w; ix += 32) { /* the row's spikes, up to 32 at a time */
                    uint32_t active = bits_at(bits, first + ix, cv->in_w - ix < 32 ? cv->in_w - ix : 32);
                    while (active != 0) {
                        int32_t j = lowest_set(active);
                        active &= active - 1u;
                        scatter_input(cv, acc, c, &ay, ix + j, 1);
                    }
                }
            }
        }
    }
}

void qsnn_conv_events(const qsnn_conv_t *cv, const uint8_t *in, int32_t *acc)
{
    conv_events(cv, in, NULL, acc);
}

void qsnn_conv_events_bits(const qsnn_conv_t *cv, const uint32_t *in, int32_t *acc)
{
    conv_events(cv, NULL, in, acc);
}

/* The dense linear of qsnn_linear_dense_u8 (in8) and qsnn_linear_dense_bits (in8 NULL). */
static void linear_dense(const qsnn_linear_t *fc, const uint8_t *in8, const uint32_t *bits, int32_t *acc)
{
    int32_t o, i;
    for (o = 0; o < fc->out_n; o++) {
        int32_t sum = 0;
        for (i = 0; i < fc->in_n; i++) {
            sum += weight_at(fc->weight, fc->packed, i * fc->out_n + o) * input_at(in8, bits, i);
        }
        acc[slot(o, fc->out_n)] = sum;
    }
}

void qsnn_linear_dense_u8(const qsnn_linear_t *fc, const uint8_t *in, int32_t *acc)
{
    linear_dense(fc, in, NULL, acc);
}

void qsnn_linear_dense_bits(const qsnn_linear_t *fc, const uint32_t *in, int32_t *acc)
{
    linear_dense(fc, NULL, in, acc);
}

void qsnn_linear_events_bits(const qsnn_linear_t *fc, const uint32_t *in, int32_t *acc)
{
    int32_t o, k;
    for (o = 0; o < fc->out_n; o++) {
        acc[o] = 0;
    }
    for (k = 0; k < QSNN_SPIKE_WORDS(fc->in_n); k++) {
        uint32_t active = in[k]; /* 32 inputs per word; the bits past in_n are zero */
        while (active != 0) {
            int32_t i = 32 * k + lowest_set(active);
            active &= active - 1u;
            add_run(acc, fc->weight, fc->packed, i * fc->out_n, fc->out_n, 1);
        }
    }
}

void qsnn_linear_events(const qsnn_linear_t *fc, const uint8_t *in, int32_t *acc)
{
    int32_t o, i;
    for (o = 0; o < fc->out_n; o++) {
        acc[o] = 0;
    }
    for (i = 0; i < fc->in_n; i += 4) {
        int32_t j, end = fc->in_n - i < 4 ? fc->in_n - i : 4;
        if (end == 4 && load4(in + i) == 0) {
            continue; /* spike vectors are mostly zero: skip four inputs at a time */
        }
        for (j = 0; j < end; j++) {
            if (in[i + j] != 0) {
                add_run(acc, fc->weight, fc->packed, (i + j) * fc->out_n, fc->out_n, (int32_t)in[i + j]);
            }
        }
    }
}

void qsnn_maxpool(const qsnn_maxpool_t *mp, const int32_t *in, int32_t *out)
{
    const int32_t n = mp->channels, k = mp->kernel;
    const int32_t row_step = mp->in_w * n; /* one conv row, channels-last */
    int32_t py, px, o, u, v;
    for (py = 0; py < mp->out_h; py++) {
        for (px = 0; px < mp->out_w; px++) {
            const int32_t *win = in + (py * k * mp->in_w + px * k) * n; /* the window's first conv position */
            int32_t *dst = out + (py * mp->out_w + px) * n;
            for (o = 0; o < n; o++) {
                const int32_t s = slot(o, n);
                const int is_min = mp->sign[o] < 0; /* a negative scale: the float maximum is the integer minimum */
                int32_t best = win[s];
                for (u = 0; u < k; u++) {
                    const int32_t *r = win + u * row_step + s;
                    for (v = 0; v < k; v++) {
                        int32_t x = r[v * n];
                        if (is_min ? x < best : x > best) {
                            best = x;
                        }
                    }
                }
                dst[s] = best; /* after every read of channel s of this window (the in-place case) */
            }
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

/* The subtract reset, shared by every LIF kernel (generic and fast), so that it is written exactly once. */
static int64_t subtract_reset(int64_t d, int64_t th)
{
    d -= th;
    return d;
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
        d = subtract_reset(d, th);
    }
    return d;
}

/* One neuron: update, saturate to [lo, hi] (the state type), fire on strictly greater. Returns the new
 * membrane, already within [lo, hi], and stores the spike. */
static int64_t lif_neuron(const qsnn_lif_t *lif, int64_t v, int32_t cur, int64_t half, int64_t lo, int64_t hi,
                          uint32_t *spike)
{
    int64_t u = lif_update(lif, v, cur, half);
    if (u > hi) {
        u = hi;
    } else if (u < lo) {
        u = lo;
    }
    *spike = u > lif->threshold;
    return u;
}

int32_t qsnn_lif_step16(const qsnn_lif_t *lif, int16_t *v, const int32_t *cur, uint32_t *spikes)
{
    int64_t half = lif->decay_shift > 0 ? ((int64_t)1 << (lif->decay_shift - 1)) : 0;
    int32_t per = lif->n / lif->channels;
    int32_t c, k, i = 0, fired = 0;
    for (c = 0; c < lif->channels; c++) {
        const int32_t *cc = cur + slot(c, lif->channels); /* cur is channels-last */
        for (k = 0; k < per; k++, i++) {
            uint32_t spike;
            v[i] = (int16_t)lif_neuron(lif, v[i], cc[k * lif->channels], half, INT16_MIN, INT16_MAX, &spike);
            set_spike(spikes, i, spike);
            fired += (int32_t)spike;
        }
    }
    return fired;
}

int32_t qsnn_lif_step32(const qsnn_lif_t *lif, int32_t *v, const int32_t *cur, uint32_t *spikes)
{
    int64_t half = lif->decay_shift > 0 ? ((int64_t)1 << (lif->decay_shift - 1)) : 0;
    int32_t per = lif->n / lif->channels;
    int32_t c, k, i = 0, fired = 0;
    for (c = 0; c < lif->channels; c++) {
        const int32_t *cc = cur + slot(c, lif->channels); /* cur is channels-last */
        for (k = 0; k < per; k++, i++) {
            uint32_t spike;
            v[i] = (int32_t)lif_neuron(lif, v[i], cc[k * lif->channels], half, INT32_MIN, INT32_MAX, &spike);
            set_spike(spikes, i, spike);
            fired += (int32_t)spike;
        }
    }
    return fired;
}

int32_t qsnn_conv_u8_lif(const qsnn_conv_t *cv, const qsnn_requant_t *rq, const qsnn_lif_t *lif,
                         const uint8_t *in, int32_t *acc, void *v, int32_t v_bits, uint32_t *spikes)
{
    const int32_t oc = cv->out_c, plane = cv->out_h * cv->out_w;
    const int64_t half = lif->decay_shift > 0 ? ((int64_t)1 << (lif->decay_shift - 1)) : 0;
    const int64_t lo = v_bits == 16 ? INT16_MIN : INT32_MIN, hi = v_bits == 16 ? INT16_MAX : INT32_MAX;
    qsnn_requant_t one = *rq; /* one position's out_c currents: channels-last with one element per channel */
    int32_t py, px, u, w, c, dy, dx, o, fired = 0;
    one.per_channel = rq->channels > 1 ? 1 : oc;
    for (py = 0; py < cv->out_h; py++) {
        for (px = 0; px < cv->out_w; px++) {
            /* The input window of the pooled position: (pool - 1) stride + k rows and columns from (y0, x0);
             * each nonzero pixel adds its weights once for every (pooling position, tap) pair reaching it. */
            const int32_t y0 = py * cv->pool * cv->stride - cv->pad, x0 = px * cv->pool * cv->stride - cv->pad;
            const int32_t rows = (cv->pool - 1) * cv->stride + cv->kh, cols = (cv->pool - 1) * cv->stride + cv->kw;
            for (o = 0; o < oc; o++) {
                acc[o] = 0;
            }
            for (c = 0; c < cv->in_c; c++) {
                for (dy = 0; dy < rows; dy++) {
                    const uint8_t *row;
                    if (y0 + dy < 0 || y0 + dy >= cv->in_h) {
                        continue; /* zero padding */
                    }
                    row = in + (c * cv->in_h + y0 + dy) * cv->in_w;
                    for (dx = 0; dx < cols; dx++) {
                        int32_t ix = x0 + dx;
                        if (ix < 0 || ix >= cv->in_w || row[ix] == 0) {
                            continue; /* padding, or an inactive input */
                        }
                        for (u = 0; u < cv->pool; u++) {
                            int32_t kh = dy - u * cv->stride;
                            if (kh < 0 || kh >= cv->kh) {
                                continue;
                            }
                            for (w = 0; w < cv->pool; w++) {
                                int32_t kw = dx - w * cv->stride;
                                if (kw >= 0 && kw < cv->kw) {
                                    int32_t tap = (c * cv->kh + kh) * cv->kw + kw;
                                    add_run(acc, cv->weight, cv->packed, tap * oc, oc, (int32_t)row[ix]);
                                }
                            }
                        }
                    }
                }
            }
            qsnn_requant(&one, acc);
            for (o = 0; o < oc; o++) {
                int32_t i = o * plane + py * cv->out_w + px; /* the neuron, (C, H, W) */
                uint32_t spike;
                if (v_bits == 16) {
                    int16_t *v16 = (int16_t *)v;
                    v16[i] = (int16_t)lif_neuron(lif, v16[i], acc[slot(o, oc)], half, lo, hi, &spike);
                } else {
                    int32_t *v32 = (int32_t *)v;
                    v32[i] = (int32_t)lif_neuron(lif, v32[i], acc[slot(o, oc)], half, lo, hi, &spike);
                }
                set_spike(spikes, i, spike);
                fired += (int32_t)spike;
            }
        }
    }
    return fired;
}

void qsnn_synaptic_step(const qsnn_synaptic_t *syn, int32_t *state, const int32_t *in, int32_t *out)
{
    int64_t half = syn->decay_shift > 0 ? ((int64_t)1 << (syn->decay_shift - 1)) : 0;
    int64_t hi = ((int64_t)1 << (syn->state_bits - 1)) - 1, lo = -hi - 1;
    int32_t per = syn->n / syn->channels;
    int32_t c, k, i = 0;
    for (c = 0; c < syn->channels; c++) {
        int32_t first = slot(c, syn->channels); /* in and out are channels-last, state (C, H, W) */
        for (k = 0; k < per; k++, i++) {
            int32_t at = first + k * syn->channels;
            /* |state| < 2^31 and decay_mult <= 2^31 - 1: the product and the sum fit int64. */
            int64_t u = qsnn_floor_shift((int64_t)state[i] * syn->decay_mult + half, syn->decay_shift) + in[at];
            if (u > hi) {
                u = hi;
            } else if (u < lo) {
                u = lo;
            }
            state[i] = (int32_t)u;
            out[at] = (int32_t)u;
        }
    }
}

void qsnn_recurrent_add(const qsnn_recurrent_t *rc, const uint32_t *spikes, const int32_t *in, int32_t *out,
                        int32_t *acc)
{
    int64_t half = rc->shift > 0 ? ((int64_t)1 << (rc->shift - 1)) : 0;
    int32_t c, j;
    for (c = 0; c < rc->n; c++) {
        acc[c] = 0;
    }
    for (j = 0; j < rc->n; j++) {
        if (spike_at(spikes, j)) { /* weights of spike j are contiguous (input-major), added in slot order */
            add_run(acc, rc->weight, rc->packed, j * rc->n, rc->n, 1);
        }
    }
    for (c = 0; c < rc->n; c++) {
        int32_t k = slot(c, rc->n);
        /* |acc| <= n * 2^7 and |mult| < 2^31: the product fits int64; the design rules prove the sum fits int32. */
        out[k] = (int32_t)(in[k] + qsnn_floor_shift((int64_t)acc[k] * rc->mult[c] + half, rc->shift));
    }
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

void qsnn_count_output(const uint32_t *spikes, int32_t n, uint16_t *counts, uint8_t *out)
{
    int32_t i;
    for (i = 0; i < n; i++) {
        uint32_t spike = spike_at(spikes, i);
        counts[i] = (uint16_t)(counts[i] + spike);
        if (out != NULL) {
            out[i] = (uint8_t)spike;
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

/* ---- Fast kernels (see qsnn_runtime.h, "Fast kernels"): only called where the code generator proved their
 * preconditions for the layer (qsnn_deploy/targets/c/layout.py, LayerKernels). ---- */

/* Two's complement reinterpretation of a uint32 without an implementation-defined conversion (compilers emit
 * no instruction for it). */
QSNN_INLINE int32_t as_int32(uint32_t u)
{
    return u <= (uint32_t)INT32_MAX ? (int32_t)u : -(int32_t)(~u) - 1;
}

/* The low 32 bits of floor(p / 2^s) for 1 <= s <= 31, p a two's complement int64 held in a uint64: bits s to
 * s + 31 of p, which is the whole quotient when it fits int32 (two 32-bit shifts, no 64-bit shift). */
QSNN_INLINE int32_t shift_low32(uint64_t p, int32_t s)
{
    return as_int32(((uint32_t)p >> s) | ((uint32_t)(p >> 32) << (32 - s)));
}

/* The LIF parameters as locals (the kernels store membranes through int32 pointers, which C lets alias the
 * parameter struct, so reading it inside a loop would reload it for every neuron), and the decay prepared
 * for one 32x32->64 multiply whose high word is the result:
 *   floor((v m + 2^(s-1)) / 2^s) = floor((v m 2^(32-s) + 2^31) / 2^32) = high32(v m2 + 2^31) + (v if wrap)
 * with m2 = m 2^(32-s) when that fits int32 (m < 2^(s-1)), else m 2^(32-s) - 2^32 (wrap; m < 2^s keeps it
 * >= -2^31), since adding v 2^32 adds exactly v to the high word. */
typedef struct {
    int32_t th, m2, reset_zero;
    uint32_t wrap; /* all ones when m2 wrapped, else 0 */
} lif_consts_t;

/* m2 and wrap of a decay m / 2^s (above), shared by the LIF and the synaptic current. */
QSNN_INLINE void decay_consts(int32_t mult, int32_t shift, int32_t *m2, uint32_t *wrap)
{
    int64_t scaled = (int64_t)mult << (32 - shift);
    *wrap = scaled > INT32_MAX ? 0xFFFFFFFFu : 0u;
    *m2 = (int32_t)(scaled > INT32_MAX ? scaled - ((int64_t)1 << 32) : scaled);
}

static lif_consts_t lif_consts(const qsnn_lif_t *lif)
{
    lif_consts_t k;
    k.th = lif->threshold;
    k.reset_zero = lif->reset_zero;
    decay_consts(lif->decay_mult, lif->decay_shift, &k.m2, &k.wrap);
    return k;
}

/* The high word of a 64-bit two's complement value, floor(p / 2^32), without a signed shift. */
QSNN_INLINE int32_t high32(int64_t p)
{
    return as_int32((uint32_t)((uint64_t)p >> 32));
}

/* floor((a b + 2^31) / 2^32): one SMMULR where the core has the DSP extension, else the portable form. */
QSNN_INLINE int32_t mul_high_round(int32_t a, int32_t b)
{
#if defined(__ARM_FEATURE_DSP) && defined(__GNUC__)
    int32_t r;
    __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
#else
    return high32((int64_t)a * b + ((int64_t)1 << 31));
#endif
}

/* decay(v) + cur = mul_high_round(v, m2) + (v if wrap) + cur. With the DSP extension one SMMLAR, whose
 * accumulator adds (v +) cur to the high word: the sum wraps modulo 2^32 in the register, and the result is
 * exact because the final value fits (the fast kernels' precondition). `wrap` must be k.wrap != 0 there, or -1
 * to read k.wrap (the callers pass a constant: each copy of the loop has one form, and the int16 copies, rare,
 * read it, which keeps the code small); the portable form always reads k.wrap. */
QSNN_INLINE int32_t decay_add(lif_consts_t k, int32_t wrap, int32_t v, int32_t cur)
{
#if defined(__ARM_FEATURE_DSP) && defined(__GNUC__)
    int32_t r;
    uint32_t acc = wrap < 0 ? ((uint32_t)v & k.wrap) + (uint32_t)cur
                            : wrap ? (uint32_t)v + (uint32_t)cur : (uint32_t)cur;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(v), "r"(k.m2), "r"(acc));
    return r;
#else
    (void)wrap;
    return mul_high_round(v, k.m2) + as_int32((uint32_t)v & k.wrap) + cur;
#endif
}

/* The LIF update in int32 (qsnn_lif_fast's preconditions: no saturation, every intermediate within the state
 * type, 1 <= decay_shift <= 31, 0 <= decay_mult < 2^decay_shift, so |decay(v)| <= |v|). */
QSNN_INLINE int32_t lif_fast_update(lif_consts_t k, int32_t wrap, int32_t v, int32_t cur)
{
    int reset = v > k.th;
    int32_t d;
    if (k.reset_zero && reset) {
        v = 0;
    }
    d = decay_add(k, wrap, v, cur);
    if (!k.reset_zero && reset) {
        d = (int32_t)subtract_reset(d, k.th);
    }
    return d;
}

/* n LIF updates (the fast form): membranes v[i vs] (int16 or int32 as v_bits says), spike bits at + i vs of s
 * (zeroed by the caller: only the neurons that fire write), currents cur[i cs]. Inlined with constant v_bits
 * and reset_zero, and one of the strides 1, so that each copy is a straight loop. */
QSNN_INLINE int32_t lif_run(lif_consts_t k, int32_t reset_zero, int32_t wrap, int32_t v_bits, void *v, int32_t vs,
                            const int32_t *cur, int32_t cs, uint32_t *s, int32_t at, int32_t n)
{
    int32_t *v32 = (int32_t *)v;
    int16_t *v16 = (int16_t *)v;
    int32_t i = 0, end = n * vs, fired = 0;
    k.reset_zero = reset_zero;
    do { /* n >= 1 */
        int32_t d;
        if (v_bits == 32) {
            d = lif_fast_update(k, wrap, v32[i], *cur);
            v32[i] = d;
        } else {
            d = lif_fast_update(k, wrap, v16[i], *cur);
            v16[i] = (int16_t)d;
        }
        if (d > k.th) { /* few neurons fire: a compare and a branch, the bit and the count only for those */
            s[(at + i) >> 5] |= (uint32_t)1 << ((at + i) & 31);
            fired++;
        }
        i += vs;
        cur += cs;
    } while (i != end);
    return fired;
}

#if defined(__ARM_FEATURE_DSP) && defined(__GNUC__) && defined(__thumb2__)
#define QSNN_LIF_SPAN 1
/* One neuron of lif_span, written once for its two copies: a = cur + v, minus th if v > th (the reset), plus
 * the rounded high word of v * m2 (the decay); the membrane stored, then a compared with th for the branch. */
#define QSNN_LIF_SPAN_NEURON \
    "ldr    %[v], [%[vp]]\n\t" \
    "ldr    %[a], [%[c]]\n\t" \
    "add    %[c], %[c], %[cs]\n\t" \
    "add    %[a], %[a], %[v]\n\t" \
    "cmp    %[v], %[th]\n\t" \
    "it     gt\n\t" \
    "subgt  %[a], %[a], %[th]\n\t" \
    "smmlar %[a], %[v], %[m2], %[a]\n\t" \
    "str    %[a], [%[vp]], #4\n\t" \
    "cmp    %[a], %[th]\n\t"
/* lif_run's most common copy (int32 membranes, contiguous, subtract reset, wrapped decay) on Thumb-2 DSP cores,
 * in assembly, two neurons per iteration (12 instructions a neuron; the compiler's loop takes 14): updates
 * the membranes from *vp on until one fires (its new membrane > th) or vend is reached (vp < vend), advancing
 * *cur by cs_bytes per neuron; returns the pointer past the last neuron updated, so that the caller sets the
 * spike bit of vp[-1] if it fired and calls again (few neurons fire). */
QSNN_INLINE int32_t *lif_span(int32_t *vp, int32_t *vend, const int32_t **cur, int32_t cs_bytes, int32_t th,
                              int32_t m2)
{
    const int32_t *c = *cur;
    int32_t v, a;
    __asm__("sub    %[v], %[vend], %[vp]\n\t"
            "tst    %[v], #4\n\t" /* an odd count enters at the second neuron */
            "bne    3f\n"
            "1:\n\t" QSNN_LIF_SPAN_NEURON "bgt    9f\n"
            "3:\n\t" QSNN_LIF_SPAN_NEURON "bgt    9f\n\t"
            "cmp    %[vp], %[vend]\n\t"
            "bne    1b\n"
            "9:"
            : [vp] "+r"(vp), [c] "+r"(c), [v] "=&r"(v), [a] "=&r"(a)
            : [vend] "r"(vend), [cs] "r"(cs_bytes), [th] "r"(th), [m2] "r"(m2)
            : "cc", "memory");
    *cur = c;
    return vp;
}
#else
#define QSNN_LIF_SPAN 0
#endif

/* lif_run with constant reset_zero, v_bits and wrap: on DSP cores the int32 subtract-reset loops get a copy for
 * the wrapped decay form (see decay_add; contiguous: lif_span), the others one that reads it (smaller code). */
#if defined(__ARM_FEATURE_DSP) && defined(__GNUC__)
#define QSNN_WRAP32(k) ((k).wrap ? 1 : 0)
#else
#define QSNN_WRAP32(k) 0
#endif

/* Contiguous membranes and spikes, currents every cs (a channel of a channels-last current). */
static QSNN_NOINLINE int32_t lif_contiguous(lif_consts_t k, int32_t v_bits, void *v, const int32_t *cur, int32_t cs,
                                            uint32_t *s, int32_t at, int32_t n)
{
    if (v_bits == 32) {
#if QSNN_LIF_SPAN
        if (!k.reset_zero && k.wrap) {
            int32_t *v32 = (int32_t *)v, *p = v32, *end = v32 + n, fired = 0;
            do { /* n >= 1 */
                p = lif_span(p, end, &cur, cs * 4, k.th, k.m2);
                if (p[-1] > k.th) {
                    int32_t i = at + (int32_t)(p - v32) - 1;
                    s[i >> 5] |= (uint32_t)1 << (i & 31);
                    fired++;
                }
            } while (p != end);
            return fired;
        }
        if (!k.reset_zero) {
            return lif_run(k, 0, 0, 32, v, 1, cur, cs, s, at, n);
        }
#endif
        return k.reset_zero ? lif_run(k, 1, -1, 32, v, 1, cur, cs, s, at, n)
                            : lif_run(k, 0, -1, 32, v, 1, cur, cs, s, at, n);
    }
    return k.reset_zero ? lif_run(k, 1, -1, 16, v, 1, cur, cs, s, at, n)
                        : lif_run(k, 0, -1, 16, v, 1, cur, cs, s, at, n);
}

/* Membranes and spikes every vs (one position of several channels), contiguous currents. */
static QSNN_NOINLINE int32_t lif_scattered(lif_consts_t k, int32_t v_bits, void *v, int32_t vs, const int32_t *cur,
                                           uint32_t *s, int32_t at, int32_t n)
{
    if (v_bits == 32) {
        if (QSNN_WRAP32(k) && !k.reset_zero) {
            return lif_run(k, 0, 1, 32, v, vs, cur, 1, s, at, n);
        }
        return k.reset_zero ? lif_run(k, 1, -1, 32, v, vs, cur, 1, s, at, n)
                            : lif_run(k, 0, -1, 32, v, vs, cur, 1, s, at, n);
    }
    return k.reset_zero ? lif_run(k, 1, -1, 16, v, vs, cur, 1, s, at, n)
                        : lif_run(k, 0, -1, 16, v, vs, cur, 1, s, at, n);
}

/* Clear the spike bits of n neurons (before a fast LIF pass, which only sets the bits of those that fire). */
static void clear_spikes(uint32_t *s, int32_t n)
{
    int32_t k;
    for (k = 0; k < QSNN_SPIKE_WORDS(n); k++) {
        s[k] = 0;
    }
}

void qsnn_synaptic_fast(const qsnn_synaptic_t *syn, int32_t *state, const int32_t *in, int32_t *out)
{
    int32_t m2, c, k, i = 0;
    uint32_t wrap;
    int32_t channels = syn->channels, per = syn->n / syn->channels;
    decay_consts(syn->decay_mult, syn->decay_shift, &m2, &wrap);
    for (c = 0; c < channels; c++) {
        int32_t at = slot(c, channels); /* in and out are channels-last, state (C, H, W) */
        for (k = 0; k < per; k++, i++, at += channels) {
            /* The decay of the LIF's fast form; the range analysis bounds the sum within the state type. */
            int32_t u = state[i];
            u = mul_high_round(u, m2) + as_int32((uint32_t)u & wrap) + in[at];
            state[i] = u;
            out[at] = u;
        }
    }
}

int32_t qsnn_lif_fast(const qsnn_lif_t *lif, void *v, int32_t v_bits, const int32_t *cur, uint32_t *spikes)
{
    const lif_consts_t k = lif_consts(lif);
    int32_t channels = lif->channels, per = lif->n / lif->channels;
    int32_t c, fired = 0;
    clear_spikes(spikes, lif->n);
    for (c = 0; c < channels; c++) { /* cur is channels-last: channel c every `channels` elements */
        void *vc = v_bits == 32 ? (void *)((int32_t *)v + c * per) : (void *)((int16_t *)v + c * per);
        fired += lif_contiguous(k, v_bits, vc, cur + slot(c, channels), channels, spikes, c * per, per);
    }
    return fired;
}

/* The conv geometry gather_channel needs, computed once per call of qsnn_conv_spikes_lif. */
typedef struct {
    int32_t in_c, in_h, in_w, kh, kw, pool, pad, groups;
    uint32_t window; /* bits of the input columns that reach one output: pool + kw - 1 of them (<= 32) */
    uint32_t taps;   /* kw bits */
} gather_t;

/* emit_row for the common 2 x 2 pool, input by input: an active column x of the window feeds taps x (v = 0,
 * where x < kw) and x - 1 (v = 1, where x >= 1) of kernel rows r - u (u = 0 where r < kh, u = 1 where r >= 1):
 * one entry base + x groups and its neighbours one tap and one kernel row back, written together (emit_row's
 * loops spend a setup per (u, v) on rows that hold one or two inputs). The sums do not depend on the order of
 * the list. Inlined in gather_events, so that a row costs no call. */
QSNN_INLINE uint16_t *emit_pool2(uint32_t field, int32_t r, int32_t row0, int32_t kh, int32_t kw, int32_t groups,
                                 uint16_t *list)
{
    const int32_t row_step = kw * groups;
    const uint32_t inner = field & ((((uint32_t)1 << kw) - 1u) & ~1u), edge = field & ~inner; /* columns 1 .. kw - 1 */
    const int32_t first = r < kh ? r : kh - 1;              /* the first kernel row, r - u */
    const int32_t last = (r >= 1 && r < kh) ? 1 : 0;         /* 1: also kernel row first - 1 */
    const int32_t base = row0 + first * row_step;           /* entry of tap 0 of kernel row first */
    uint32_t hit = inner;
    while (hit != 0) {
        int32_t e = base + lowest_set(hit) * groups;
        hit &= hit - 1u;
        list[0] = (uint16_t)e;
        list[1] = (uint16_t)(e - groups);
        if (last) {
            list[2] = (uint16_t)(e - row_step);
            list[3] = (uint16_t)(e - row_step - groups);
        }
        list += 2 + 2 * last;
    }
    if (edge & 1u) { /* column 0 feeds only tap 0 (v = 0) */
        list[0] = (uint16_t)base;
        if (last) {
            list[1] = (uint16_t)(base - row_step);
        }
        list += 1 + last;
    }
    if (edge > 1u) { /* column kw (the window's last) feeds only tap kw - 1 (v = 1) */
        int32_t e = base + (kw - 1) * groups;
        list[0] = (uint16_t)e;
        if (last) {
            list[1] = (uint16_t)(e - row_step);
        }
        list += 1 + last;
    }
    return list;
}

/* The list entries of one active window row: for every kernel row kh = r - u (u a row of the pooling
 * window) and pooling column v, the taps kw set in (field >> v) & taps, as word offset rows[0] + (kh kw_n + kw)
 * groups, where row0 is the entry of kernel row 0 of this input channel. Returns the end of the list. */
static QSNN_NOINLINE uint16_t *emit_row(const gather_t *gp, uint32_t field, int32_t r, int32_t row0,
                                        uint16_t *list)
{
    const int32_t p = gp->pool, groups = gp->groups, row_step = gp->kw * gp->groups;
    const uint32_t taps = gp->taps;
    int32_t u = r - gp->kh + 1 > 0 ? r - gp->kh + 1 : 0; /* kernel row r - u must be in [0, kh) */
    int32_t u_hi = r < p - 1 ? r : p - 1;
    for (; u <= u_hi; u++) {
        int32_t base = row0 + (r - u) * row_step;
        uint32_t f = field;
        int32_t v;
        for (v = 0; v < p; v++, f >>= 1) { /* pooling column v: bit kw of f & taps is tap kw */
            uint32_t hit = f & taps;
            while (hit != 0) {
                *list++ = (uint16_t)(base + lowest_set(hit) * groups);
                hit &= hit - 1u;
            }
        }
    }
    return list;
}

/* The weight rows (as word offsets of channel group 0) of input channel c's active inputs reaching pooled
 * output (py, px), one entry per (input, kernel tap, position in the pooling window), at most kh kw pool^2;
 * returns the end of the list. Each window row is cut out of the spike bits (bit pad + x of a row's bitmap is
 * column x, so that the left zero padding is part of it and the window's bits are one right shift away).
 * Stride 1. */
static QSNN_NOINLINE uint16_t *gather_channel(const gather_t *gp, const uint32_t *in, int32_t c, int32_t py,
                                              int32_t px, uint16_t *list)
{
    const int32_t span = gp->pool + gp->kh - 1, y0 = py * gp->pool - gp->pad, x0 = px * gp->pool;
    const int32_t row0 = c * gp->kh * gp->kw * gp->groups; /* entry of channel c's kernel row 0 */
    const int32_t y_lo = y0 < 0 ? -y0 : 0, y_hi = y0 + span > gp->in_h ? gp->in_h - y0 : span; /* no padding rows */
    int32_t r, at = (c * gp->in_h + y0 + y_lo) * gp->in_w;
    for (r = y_lo; r < y_hi; r++, at += gp->in_w) {
        uint32_t field = ((bits_at(in, at, gp->in_w) << gp->pad) >> x0) & gp->window;
        if (field != 0) {
            list = emit_row(gp, field, r, row0, list);
        }
    }
    return list;
}

/* Bitmaps of the active inputs, one word per input row, cut out of the spike bits: bit pad + x = column x (the
 * left zero padding is part of the bitmap, so that a window's bits are one right shift away). */
static QSNN_NOINLINE void spike_rows(const uint32_t *in, int32_t rows, int32_t width, int32_t pad, uint32_t *bits)
{
    /* The rows are consecutive fields of the bit array: one word in hand and the bit offset in it, the next
     * word loaded where a row crosses into it (never past the last row's word). */
    const uint32_t mask = width >= 32 ? 0xFFFFFFFFu : ((uint32_t)1 << width) - 1u;
    uint32_t word = *in++;
    int32_t r, sh = 0;
    for (r = 0; r < rows; r++) {
        uint32_t field = word >> sh;
        sh += width;
        if (sh >= 32) {
            sh -= 32;
            if (sh > 0 || r + 1 < rows) {
                word = *in++;
            }
            if (sh > 0) {
                field |= word << (width - sh);
            }
        }
        bits[r] = (field & mask) << pad;
    }
}

/* For each input channel c and pooled column px, cols[c out_w + px] has bit pad + y set when input row y has
 * an active input in the columns that reach px, so that a position visits only the rows that contribute. */
static QSNN_HOT void window_rows(const gather_t *gp, const uint32_t *rows, int32_t out_w, uint32_t *cols)
{
    int32_t c, y, px;
    for (c = 0; c < gp->in_c; c++, cols += out_w) {
        for (px = 0; px < out_w; px++) {
            cols[px] = 0;
        }
        for (y = 0; y < gp->in_h; y++) {
            uint32_t row = *rows++;
            uint32_t bit = (uint32_t)1 << (y + gp->pad);
            for (px = 0; row != 0 && px < out_w; px++, row >>= gp->pool) {
                if ((row & gp->window) != 0) {
                    cols[px] |= bit;
                }
            }
        }
    }
}

/* The weight rows (as word offsets of channel group 0) of every active input reaching pooled output (py, px),
 * one entry per (input, kernel tap, position in the pooling window); returns the end of the list. Stride 1. */
static QSNN_HOT uint16_t *gather_events(const gather_t *gp, const uint32_t *rows, const uint32_t *cols,
                                             int32_t out_w, int32_t py, int32_t px, uint16_t *list)
{
    const int32_t in_h = gp->in_h, span = gp->pool + gp->kh - 1;
    const int32_t y0 = py * gp->pool - gp->pad, x0 = px * gp->pool; /* x0: bitmap bit of the window's column 0 */
    const uint32_t rows_mask = span >= 32 ? 0xFFFFFFFFu : ((uint32_t)1 << span) - 1u;
    const int32_t channel_step = gp->kh * gp->kw * gp->groups; /* entries of one input channel's kernel */
    int32_t c, row0 = 0;
    cols += px;
    if (gp->pool == 2) { /* emit_pool2 inlined */
        const int32_t kh = gp->kh, kw = gp->kw, groups = gp->groups, shift = py * 2;
        const uint32_t window = gp->window;
        for (c = gp->in_c; c > 0; c--, rows += in_h, cols += out_w, row0 += channel_step) {
            uint32_t active = (*cols >> shift) & rows_mask;
            while (active != 0) {
                int32_t r = lowest_set(active);
                active &= active - 1u;
                list = emit_pool2((rows[y0 + r] >> x0) & window, r, row0, kh, kw, groups, list);
            }
        }
        return list;
    }
    for (c = gp->in_c; c > 0; c--, rows += in_h, cols += out_w, row0 += channel_step) {
        uint32_t active = (*cols >> (py * gp->pool)) & rows_mask; /* bit r: window row r has inputs */
        while (active != 0) {
            int32_t r = lowest_set(active); /* 0 <= y0 + r < in_h: padding rows have no bit */
            active &= active - 1u;
            list = emit_row(gp, (rows[y0 + r] >> x0) & gp->window, r, row0, list);
        }
    }
    return list;
}

/* Sums of groups g and g + 1 of 8 channels each over the listed weight rows [list, end), w pointing at group
 * g's word of kernel row 0 (for the last group of an odd count, "group g + 1" is the next row's group 0, or
 * the padding word after the last row, and its sums are dropped): per group four words of two 16-bit lanes,
 * channels (0, 1), (2, 3), (4, 5), (6, 7), each lane sum(w + 8) (offset-binary nibbles, see "Fast kernels").
 * Its own function so that its loop gets the registers; m4 = 0x0F0F0F0F is passed in so that it stays in
 * a register and the masks take the shifted-operand form. */
static QSNN_NOIPA void sum_groups(const uint32_t *w, const uint16_t *list, const uint16_t *end, uint32_t m4,
                                  uint32_t lanes[8])
{
    const uint32_t m8 = 0x00FF00FFu;
    lanes[0] = lanes[1] = lanes[2] = lanes[3] = lanes[4] = lanes[5] = lanes[6] = lanes[7] = 0;
    while (list < end) {
        /* 17 nibbles of at most 15 fit a byte: accumulate byte lanes, then widen to 16-bit lanes (in memory:
         * the loop above keeps the registers). */
        const uint16_t *stop = end - list > 17 ? list + 17 : end;
        uint32_t lo0 = 0, hi0 = 0, lo1 = 0, hi1 = 0;
#if defined(__GNUC__) && defined(__thumb2__)
        /* The same loop as the C below, two rows per iteration (entered in the middle for an odd count), 12
         * instructions per row: compilers spill a register of it at -Os. */
        uint32_t row, a, b;
        int32_t odd = (int32_t)((stop - list) & 1);
        __asm__("cmp    %[odd], #0\n\t"
                "bne    2f\n"
                "1:\n\t"
                "ldrh   %[row], [%[list]], #2\n\t"
                "add    %[row], %[w], %[row], lsl #2\n\t"
                "ldrd   %[a], %[b], [%[row]]\n\t"
                "and    %[row], %[a], %[m4]\n\t"
                "add    %[lo0], %[lo0], %[row]\n\t"
                "and    %[a], %[m4], %[a], lsr #4\n\t"
                "add    %[hi0], %[hi0], %[a]\n\t"
                "and    %[row], %[b], %[m4]\n\t"
                "add    %[lo1], %[lo1], %[row]\n\t"
                "and    %[b], %[m4], %[b], lsr #4\n\t"
                "add    %[hi1], %[hi1], %[b]\n"
                "2:\n\t"
                "ldrh   %[row], [%[list]], #2\n\t"
                "add    %[row], %[w], %[row], lsl #2\n\t"
                "ldrd   %[a], %[b], [%[row]]\n\t"
                "and    %[row], %[a], %[m4]\n\t"
                "add    %[lo0], %[lo0], %[row]\n\t"
                "and    %[a], %[m4], %[a], lsr #4\n\t"
                "add    %[hi0], %[hi0], %[a]\n\t"
                "and    %[row], %[b], %[m4]\n\t"
                "add    %[lo1], %[lo1], %[row]\n\t"
                "and    %[b], %[m4], %[b], lsr #4\n\t"
                "add    %[hi1], %[hi1], %[b]\n\t"
                "cmp    %[list], %[stop]\n\t"
                "bcc    1b"
                : [list] "+r"(list), [lo0] "+r"(lo0), [hi0] "+r"(hi0), [lo1] "+r"(lo1), [hi1] "+r"(hi1),
                  [row] "=&r"(row), [a] "=&r"(a), [b] "=&r"(b)
                : [w] "r"(w), [m4] "r"(m4), [stop] "r"(stop), [odd] "r"(odd)
                : "cc", "memory");
#elif UINTPTR_MAX <= 0xFFFFFFFFu
        /* 32-bit cores without Thumb-2 (the Cortex-M0): the loop above in C, on 32-bit words. */
        do {
            const uint32_t *row = w + *list++;
            uint32_t a = row[0], b = row[1];
            lo0 += a & m4;
            hi0 += (a >> 4) & m4;
            lo1 += b & m4;
            hi1 += (b >> 4) & m4;
        } while (list < stop);
#else
        /* Both groups' words as one 64-bit value: on 64-bit hosts one load, two masks and two adds per row. */
        uint64_t lo = 0, hi = 0;
        const uint64_t m16 = ((uint64_t)m4 << 32) | m4;
        do {
            const uint32_t *row = w + *list++;
            uint64_t ab = (uint64_t)row[0] | ((uint64_t)row[1] << 32);
            lo += ab & m16;
            hi += (ab >> 4) & m16;
        } while (list < stop);
        lo0 = (uint32_t)lo;
        lo1 = (uint32_t)(lo >> 32);
        hi0 = (uint32_t)hi;
        hi1 = (uint32_t)(hi >> 32);
#endif
        lanes[0] += lo0 & m8;
        lanes[1] += (lo0 >> 8) & m8;
        lanes[2] += hi0 & m8;
        lanes[3] += (hi0 >> 8) & m8;
        lanes[4] += lo1 & m8;
        lanes[5] += (lo1 >> 8) & m8;
        lanes[6] += hi1 & m8;
        lanes[7] += (hi1 >> 8) & m8;
    }
}

/* Four groups (32 channels) per pass with 16-byte vectors where the compiler has them (GCC/Clang vector
 * extensions on a little-endian core with SSE2 or NEON: 64-bit hosts), else two. */
#if defined(__GNUC__) && (defined(__SSE2__) || defined(__ARM_NEON)) && defined(__BYTE_ORDER__) && \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define QSNN_VECTOR_SUMS 1
#define QSNN_PASS_GROUPS 4 /* at most */
#define QSNN_GROUPS_PER_PASS(left) ((left) >= 4 ? 4 : (left) >= 2 ? 2 : 1)
typedef uint8_t qsnn_u8x16 __attribute__((vector_size(16)));
typedef uint16_t qsnn_u16x8 __attribute__((vector_size(16)));

/* sum_groups for groups g..g+3 at once: one 16-byte load per weight row, byte lanes per nibble (17 rows),
 * widened to 16-bit lanes; lanes[4 j + k] is group g + j's word k as sum_groups writes it. */
static QSNN_NOINLINE void sum_quads(const uint32_t *w, const uint16_t *list, const uint16_t *end, uint32_t lanes[16])
{
    const qsnn_u8x16 m4 = (qsnn_u8x16){0} + 15;
    const qsnn_u16x8 m8 = (qsnn_u16x8){0} + 0xFF;
    qsnn_u16x8 lo_even = {0}, lo_odd = {0}, hi_even = {0}, hi_odd = {0};
    uint32_t out[4][4];
    int32_t j;
    while (list < end) {
        const uint16_t *stop = end - list > 17 ? list + 17 : end;
        qsnn_u8x16 lo = {0}, hi = {0};
        do {
            qsnn_u8x16 x;
            __builtin_memcpy(&x, w + *list++, sizeof x);
            lo += x & m4;
            hi += (x >> 4) & m4;
        } while (list < stop);
        lo_even += (qsnn_u16x8)lo & m8;
        lo_odd += (qsnn_u16x8)lo >> 8;
        hi_even += (qsnn_u16x8)hi & m8;
        hi_odd += (qsnn_u16x8)hi >> 8;
    }
    /* Halfwords 2j, 2j + 1 of lo_even are bytes 0 and 2 of group j's word: sum_groups' lanes[0], and so on. */
    __builtin_memcpy(out[0], &lo_even, sizeof out[0]);
    __builtin_memcpy(out[1], &lo_odd, sizeof out[1]);
    __builtin_memcpy(out[2], &hi_even, sizeof out[2]);
    __builtin_memcpy(out[3], &hi_odd, sizeof out[3]);
    for (j = 0; j < 4; j++) {
        lanes[4 * j] = out[0][j];
        lanes[4 * j + 1] = out[1][j];
        lanes[4 * j + 2] = out[2][j];
        lanes[4 * j + 3] = out[3][j];
    }
}
#elif defined(__GNUC__) && defined(__thumb2__)
#define QSNN_VECTOR_SUMS 1
#define QSNN_PASS_GROUPS 4 /* at most */
#define QSNN_GROUPS_PER_PASS(left) ((left) >= 4 ? 4 : (left) >= 2 ? 2 : 1)
/* sum_quads on Thumb-2 cores (Cortex-M3/M4/M7/M55), in assembly: the eight byte-lane sums of four groups
 * need every register (r4-r11; r0 w, r1 list, r2 the row, r3/r12 two weight words, lr a temporary), which no
 * compiler allocates by itself. The masks are immediates (0x0F0F0F0F and 0xF0F0F0F0 are Thumb-2 modified
 * immediates), so no register holds them; the block's stop pointer is read from the stack every two rows.
 * Per row: one halfword load, one add, two doubleword loads and four instructions per weight word (19 for
 * 32 channels; sum_groups takes 24 for the same in two passes). Every 17 rows (17 * 15 <= 255) the byte lanes
 * are widened into lanes[16] (sum_quads' layout; zeroed first) as sum_groups does. Arguments:
 * r0 w, r1 list, r2 end, r3 lanes. */
void qsnn_sum_quads_t2(const uint32_t *w, const uint16_t *list, const uint16_t *end, uint32_t *lanes);
#define QSNN_SUM_QUADS_ROW                                                                                   \
        "ldrh   r2, [r1], #2\n\t"                                                                      \
        "add    r2, r0, r2, lsl #2\n\t"                                                                \
        "ldrd   r3, r12, [r2, #8]\n\t"                                                                 \
        "and    lr, r3, #0x0F0F0F0F\n\t"                                                               \
        "add    r8, r8, lr\n\t"                                                                        \
        "and    r3, r3, #0xF0F0F0F0\n\t"                                                               \
        "add    r9, r9, r3, lsr #4\n\t"                                                                \
        "and    lr, r12, #0x0F0F0F0F\n\t"                                                              \
        "add    r10, r10, lr\n\t"                                                                      \
        "and    r12, r12, #0xF0F0F0F0\n\t"                                                             \
        "add    r11, r11, r12, lsr #4\n\t"                                                             \
        "ldrd   r3, r12, [r2]\n\t"                                                                     \
        "and    lr, r3, #0x0F0F0F0F\n\t"                                                               \
        "add    r4, r4, lr\n\t"                                                                        \
        "and    r3, r3, #0xF0F0F0F0\n\t"                                                               \
        "add    r5, r5, r3, lsr #4\n\t"                                                                \
        "and    lr, r12, #0x0F0F0F0F\n\t"                                                              \
        "add    r6, r6, lr\n\t"                                                                        \
        "and    r12, r12, #0xF0F0F0F0\n\t"                                                             \
        "add    r7, r7, r12, lsr #4\n\t"
/* Widening of the eight byte-lane sums r4-r11 into lanes (r2): lanes[2 m], lanes[2 m + 1] += bytes 0, 2 and
 * 1, 3 of r(4 + m). With the DSP extension two UXTAB16 per register, else masks and adds. */
#if defined(__ARM_FEATURE_DSP)
#define QSNN_SUM_QUADS_WIDEN                                                                                 \
        "ldrd   r3, r12, [r2, #0]\n\t"                                                                 \
        "uxtab16 r3, r3, r4\n\t"                                                                        \
        "uxtab16 r12, r12, r4, ror #8\n\t"                                                              \
        "strd   r3, r12, [r2, #0]\n\t"                                                                 \
        "ldrd   r3, r12, [r2, #8]\n\t"                                                                 \
        "uxtab16 r3, r3, r5\n\t"                                                                        \
        "uxtab16 r12, r12, r5, ror #8\n\t"                                                              \
        "strd   r3, r12, [r2, #8]\n\t"                                                                 \
        "ldrd   r3, r12, [r2, #16]\n\t"                                                                 \
        "uxtab16 r3, r3, r6\n\t"                                                                        \
        "uxtab16 r12, r12, r6, ror #8\n\t"                                                              \
        "strd   r3, r12, [r2, #16]\n\t"                                                                 \
        "ldrd   r3, r12, [r2, #24]\n\t"                                                                 \
        "uxtab16 r3, r3, r7\n\t"                                                                        \
        "uxtab16 r12, r12, r7, ror #8\n\t"                                                              \
        "strd   r3, r12, [r2, #24]\n\t"                                                                 \
        "ldrd   r3, r12, [r2, #32]\n\t"                                                                 \
        "uxtab16 r3, r3, r8\n\t"                                                                        \
        "uxtab16 r12, r12, r8, ror #8\n\t"                                                              \
        "strd   r3, r12, [r2, #32]\n\t"                                                                 \
        "ldrd   r3, r12, [r2, #40]\n\t"                                                                 \
        "uxtab16 r3, r3, r9\n\t"                                                                        \
        "uxtab16 r12, r12, r9, ror #8\n\t"                                                              \
        "strd   r3, r12, [r2, #40]\n\t"                                                                 \
        "ldrd   r3, r12, [r2, #48]\n\t"                                                                 \
        "uxtab16 r3, r3, r10\n\t"                                                                        \
        "uxtab16 r12, r12, r10, ror #8\n\t"                                                              \
        "strd   r3, r12, [r2, #48]\n\t"                                                                 \
        "ldrd   r3, r12, [r2, #56]\n\t"                                                                 \
        "uxtab16 r3, r3, r11\n\t"                                                                        \
        "uxtab16 r12, r12, r11, ror #8\n\t"                                                              \
        "strd   r3, r12, [r2, #56]\n\t"
#else
#define QSNN_SUM_QUADS_WIDEN                                                                                 \
        "ldrd   r3, r12, [r2, #0]\n\t"                                                                 \
        "and    lr, r4, #0x00FF00FF\n\t"                                                               \
        "add    r3, r3, lr\n\t"                                                                        \
        "and    lr, r4, #0xFF00FF00\n\t"                                                               \
        "add    r12, r12, lr, lsr #8\n\t"                                                              \
        "strd   r3, r12, [r2, #0]\n\t"                                                                 \
        "ldrd   r3, r12, [r2, #8]\n\t"                                                                 \
        "and    lr, r5, #0x00FF00FF\n\t"                                                               \
        "add    r3, r3, lr\n\t"                                                                        \
        "and    lr, r5, #0xFF00FF00\n\t"                                                               \
        "add    r12, r12, lr, lsr #8\n\t"                                                              \
        "strd   r3, r12, [r2, #8]\n\t"                                                                 \
        "ldrd   r3, r12, [r2, #16]\n\t"                                                                 \
        "and    lr, r6, #0x00FF00FF\n\t"                                                               \
        "add    r3, r3, lr\n\t"                                                                        \
        "and    lr, r6, #0xFF00FF00\n\t"                                                               \
        "add    r12, r12, lr, lsr #8\n\t"                                                              \
        "strd   r3, r12, [r2, #16]\n\t"                                                                 \
        "ldrd   r3, r12, [r2, #24]\n\t"                                                                 \
        "and    lr, r7, #0x00FF00FF\n\t"                                                               \
        "add    r3, r3, lr\n\t"                                                                        \
        "and    lr, r7, #0xFF00FF00\n\t"                                                               \
        "add    r12, r12, lr, lsr #8\n\t"                                                              \
        "strd   r3, r12, [r2, #24]\n\t"                                                                 \
        "ldrd   r3, r12, [r2, #32]\n\t"                                                                 \
        "and    lr, r8, #0x00FF00FF\n\t"                                                               \
        "add    r3, r3, lr\n\t"                                                                        \
        "and    lr, r8, #0xFF00FF00\n\t"                                                               \
        "add    r12, r12, lr, lsr #8\n\t"                                                              \
        "strd   r3, r12, [r2, #32]\n\t"                                                                 \
        "ldrd   r3, r12, [r2, #40]\n\t"                                                                 \
        "and    lr, r9, #0x00FF00FF\n\t"                                                               \
        "add    r3, r3, lr\n\t"                                                                        \
        "and    lr, r9, #0xFF00FF00\n\t"                                                               \
        "add    r12, r12, lr, lsr #8\n\t"                                                              \
        "strd   r3, r12, [r2, #40]\n\t"                                                                 \
        "ldrd   r3, r12, [r2, #48]\n\t"                                                                 \
        "and    lr, r10, #0x00FF00FF\n\t"                                                               \
        "add    r3, r3, lr\n\t"                                                                        \
        "and    lr, r10, #0xFF00FF00\n\t"                                                               \
        "add    r12, r12, lr, lsr #8\n\t"                                                              \
        "strd   r3, r12, [r2, #48]\n\t"                                                                 \
        "ldrd   r3, r12, [r2, #56]\n\t"                                                                 \
        "and    lr, r11, #0x00FF00FF\n\t"                                                               \
        "add    r3, r3, lr\n\t"                                                                        \
        "and    lr, r11, #0xFF00FF00\n\t"                                                               \
        "add    r12, r12, lr, lsr #8\n\t"                                                              \
        "strd   r3, r12, [r2, #56]\n\t"
#endif
__asm__(".pushsection .text.qsnn_sum_quads_t2,\"ax\",%progbits\n\t"
        ".syntax unified\n\t"
        ".thumb\n\t"
        ".p2align 2\n\t"
        ".global qsnn_sum_quads_t2\n\t"
        ".type  qsnn_sum_quads_t2, %function\n\t"
        ".thumb_func\n"
        "qsnn_sum_quads_t2:\n\t"
        "push   {r4-r11, lr}\n\t"
        "sub    sp, sp, #16\n\t"
        "str    r2, [sp]\n\t"      /* end */
        "str    r3, [sp, #4]\n\t"  /* lanes */
        "movs   r4, #0\n\t"        /* lanes[0 .. 15] = 0 */
        "movs   r5, #0\n\t"
        "movs   r6, #0\n\t"
        "movs   r7, #0\n\t"
        "stmia  r3!, {r4-r7}\n\t"
        "stmia  r3!, {r4-r7}\n\t"
        "stmia  r3!, {r4-r7}\n\t"
        "stmia  r3!, {r4-r7}\n"
        "1:\n\t"                   /* a block of at most 17 rows */
        "ldr    r2, [sp]\n\t"
        "cmp    r1, r2\n\t"
        "bcs    4f\n\t"
        "sub    r3, r2, r1\n\t"    /* bytes left */
        "cmp    r3, #34\n\t"
        "it     gt\n\t"
        "addgt  r2, r1, #34\n\t"
        "str    r2, [sp, #8]\n\t"  /* stop */
        "sub    r3, r2, r1\n\t"
        "movs   r4, #0\n\t"
        "movs   r5, #0\n\t"
        "movs   r6, #0\n\t"
        "movs   r7, #0\n\t"
        "mov    r8, #0\n\t"
        "mov    r9, #0\n\t"
        "mov    r10, #0\n\t"
        "mov    r11, #0\n\t"
        "tst    r3, #2\n\t"        /* an odd count enters at the second row */
        "bne    3f\n"
        "2:\n\t" QSNN_SUM_QUADS_ROW "\n"
        "3:\n\t" QSNN_SUM_QUADS_ROW "\n\t"
        "ldr    lr, [sp, #8]\n\t"
        "cmp    r1, lr\n\t"
        "bcc    2b\n\t"
        "ldr    r2, [sp, #4]\n\t"  /* lanes */
        QSNN_SUM_QUADS_WIDEN
        "b      1b\n"
        "4:\n\t"
        "add    sp, sp, #16\n\t"
        "pop    {r4-r11, pc}\n\t"
        ".size  qsnn_sum_quads_t2, .-qsnn_sum_quads_t2\n\t"
        ".popsection");

#define sum_quads qsnn_sum_quads_t2
#else
#define QSNN_VECTOR_SUMS 0
#define QSNN_PASS_GROUPS 2
#define QSNN_GROUPS_PER_PASS(left) ((left) >= 2 ? 2 : 1)
#endif

/* Currents of n channels (8, 16 or 32) from their lanes: requantize(lane - offset), mult and bias advancing by
 * cstep per channel (0: one pair for the whole layer). Inlined with a constant cstep. */
QSNN_INLINE void requant_run(const uint32_t *lanes, int32_t n, int32_t offset, const int32_t *mult,
                             const int64_t *bias, int32_t cstep, int32_t shift, int32_t *cur)
{
    const int64_t rounding = (int64_t)1 << (shift - 1);
    const int32_t *end = cur + n;
    do {
        uint32_t w = *lanes++;
        int32_t lo = (int32_t)(w & 0xFFFFu) - offset, hi = (int32_t)(w >> 16) - offset;
        cur[0] = shift_low32((uint64_t)((int64_t)lo * mult[0] + bias[0] + rounding), shift);
        cur[1] = shift_low32((uint64_t)((int64_t)hi * mult[cstep] + bias[cstep] + rounding), shift);
        mult += 2 * cstep;
        bias += 2 * cstep;
        cur += 2;
    } while (cur < end);
}

static QSNN_HOT void requant_lanes(const uint32_t *lanes, int32_t n, int32_t offset, const int32_t *mult,
                                        const int64_t *bias, int32_t cstep, int32_t shift, int32_t *cur)
{
    if (cstep) {
        requant_run(lanes, n, offset, mult, bias, 1, shift, cur);
    } else {
        requant_run(lanes, n, offset, mult, bias, 0, shift, cur);
    }
}

/* The sums of the n channels from group g on (n / 8 groups, see sum_groups) over [list, end) into lanes. */
static void sum_pass(const uint32_t *w, const uint16_t *list, const uint16_t *end, int32_t n, uint32_t *lanes)
{
#if QSNN_VECTOR_SUMS
    if (n == 32) {
        sum_quads(w, list, end, lanes);
        return;
    }
#endif
    (void)n;
    sum_groups(w, list, end, 0x0F0F0F0Fu, lanes);
}

/* Groups of 8 output channels whose sums one part of a lean position's list feeds at once (lean_position). */
#define QSNN_LEAN_GROUPS 8

/* One output position of the lean layout (rows NULL, a list that may not hold the whole position): the list
 * gathered in parts of whole input channels (as many as list_cap holds), each part gathered once for a block of
 * up to QSNN_LEAN_GROUPS groups and summed into their lanes; then each pass's requantize and LIF as in
 * qsnn_conv_spikes_lif. Every lane stays within 16 bits: the whole list's sum does. Returns how many fired. */
static QSNN_NOINLINE int32_t lean_position(const gather_t *gp, const qsnn_conv_t *cv, const qsnn_requant_t *rq,
                                           lif_consts_t k, const uint32_t *in, int32_t py, int32_t px,
                                           uint16_t *list, int32_t list_cap, void *v, int32_t v_bits,
                                           uint32_t *spikes)
{
    const int32_t per_channel = gp->kh * gp->kw * gp->pool * gp->pool;
    const int32_t plane = cv->out_h * cv->out_w, at = py * cv->out_w + px, cstep = rq->channels > 1 ? 1 : 0;
    int32_t g0, fired = 0;
    for (g0 = 0; g0 < gp->groups; g0 += QSNN_LEAN_GROUPS) {
        const int32_t block = gp->groups - g0 < QSNN_LEAN_GROUPS ? gp->groups - g0 : QSNN_LEAN_GROUPS;
        uint32_t lanes[4 * QSNN_LEAN_GROUPS]; /* group g0 + g's four words at 4 g */
        int32_t c = 0, count = 0, g, j;
        for (j = 0; j < 4 * block; j++) {
            lanes[j] = 0;
        }
        while (c < gp->in_c) {
            uint16_t *end = list;
            while (c < gp->in_c && (int32_t)(end - list) + per_channel <= list_cap) {
                end = gather_channel(gp, in, c++, py, px, end);
            }
            for (g = 0; g < block; g += QSNN_GROUPS_PER_PASS(block - g)) {
                uint32_t part[4 * QSNN_PASS_GROUPS];
                int32_t n = 8 * QSNN_GROUPS_PER_PASS(block - g);
                sum_pass(cv->words + g0 + g, list, end, n, part);
                for (j = 0; j < n / 2; j++) {
                    lanes[4 * g + j] += part[j];
                }
            }
            count += (int32_t)(end - list);
        }
        for (g = 0; g < block; g += QSNN_GROUPS_PER_PASS(block - g)) {
            int32_t cur[8 * QSNN_PASS_GROUPS];
            int32_t n = 8 * QSNN_GROUPS_PER_PASS(block - g), first = 8 * (g0 + g);
            int32_t neuron = first * plane + at; /* (C, H, W) index of the first */
            void *vf = v_bits == 32 ? (void *)((int32_t *)v + neuron) : (void *)((int16_t *)v + neuron);
            /* sum(w + 8) - 8 entries = sum(w) */
            requant_lanes(lanes + 4 * g, n, 8 * count, rq->mult + first * cstep, rq->bias + first * cstep, cstep,
                          rq->shift, cur);
            fired += lif_scattered(k, v_bits, vf, plane, cur, spikes, neuron, n);
        }
    }
    return fired;
}

int32_t qsnn_conv_spikes_lif(const qsnn_conv_t *cv, const qsnn_requant_t *rq, const qsnn_lif_t *lif,
                             const uint32_t *in, uint32_t *rows, uint16_t *list, int32_t list_cap, void *v,
                             int32_t v_bits, uint32_t *spikes)
{
    const lif_consts_t k = lif_consts(lif);
    const int32_t cstep = rq->channels > 1 ? 1 : 0;
    const int32_t plane = cv->out_h * cv->out_w, groups = cv->out_c >> 3;
    const int32_t columns = cv->pool + cv->kw - 1;
    /* With rows (and a list that holds a whole position): the row bitmaps and the window rows once per call,
     * each position's list gathered once and summed for every pass. Without: each window row cut out of the
     * spike bits where it is needed, a position summed in parts (lean_position) when its list may not fit. */
    const int32_t whole = list_cap >= cv->in_c * cv->kh * cv->kw * cv->pool * cv->pool;
    uint32_t *cols = rows != NULL ? rows + cv->in_c * cv->in_h : NULL; /* after the row bitmaps, see window_rows */
    gather_t gp;
    int32_t py, px, g, c, fired = 0;
    gp.in_c = cv->in_c;
    gp.in_h = cv->in_h;
    gp.in_w = cv->in_w;
    gp.kh = cv->kh;
    gp.kw = cv->kw;
    gp.pool = cv->pool;
    gp.pad = cv->pad;
    gp.groups = groups;
    gp.window = columns >= 32 ? 0xFFFFFFFFu : ((uint32_t)1 << columns) - 1u;
    gp.taps = ((uint32_t)1 << cv->kw) - 1u;
    clear_spikes(spikes, lif->n);
    if (rows != NULL) {
        spike_rows(in, cv->in_c * cv->in_h, cv->in_w, cv->pad, rows);
        window_rows(&gp, rows, cv->out_w, cols);
    }
    for (py = 0; py < cv->out_h; py++) {
        for (px = 0; px < cv->out_w; px++) {
            uint16_t *end = list;
            int32_t at = py * cv->out_w + px;
            if (rows == NULL && !whole) {
                fired += lean_position(&gp, cv, rq, k, in, py, px, list, list_cap, v, v_bits, spikes);
                continue;
            }
            if (rows != NULL) {
                end = gather_events(&gp, rows, cols, cv->out_w, py, px, list);
            } else {
                for (c = 0; c < cv->in_c; c++) { /* the whole list, cut out of the bits */
                    end = gather_channel(&gp, in, c, py, px, end);
                }
            }
            for (g = 0; g < groups; g += QSNN_GROUPS_PER_PASS(groups - g)) {
                uint32_t lanes[4 * QSNN_PASS_GROUPS];
                int32_t cur[8 * QSNN_PASS_GROUPS];
                int32_t n = 8 * QSNN_GROUPS_PER_PASS(groups - g), first = 8 * g; /* channels of this pass */
                int32_t neuron = first * plane + at; /* (C, H, W) index of the first */
                void *vf = v_bits == 32 ? (void *)((int32_t *)v + neuron) : (void *)((int16_t *)v + neuron);
                sum_pass(cv->words + g, list, end, n, lanes);
                /* sum(w + 8) - 8 entries = sum(w) */
                requant_lanes(lanes, n, 8 * (int32_t)(end - list), rq->mult + first * cstep,
                              rq->bias + first * cstep, cstep, rq->shift, cur);
                fired += lif_scattered(k, v_bits, vf, plane, cur, spikes, neuron, n);
            }
        }
    }
    return fired;
}
