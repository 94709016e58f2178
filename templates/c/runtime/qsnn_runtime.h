/* qsnn_runtime.h - integer kernels of the qsnn-deploy C target (hand-written, copied next to the model).
 *
 * C99, no malloc, no floating point, no function-static state: every buffer is passed in by the caller.
 * Semantics follow docs/ir/ops.md bit for bit; docs/targets/c.md explains layouts and packing.
 *
 * Weight storage (both conv and linear) is "input-major": the weights one input element touches are
 * contiguous, so an event-driven kernel scatters one run of weights per active spike.
 *   conv:   index ((c * KH + kh) * KW + kw) * O + o
 *   linear: index i * O + o
 * Weights of 2..4 bits are packed two per byte: element 2k in the low nibble, 2k+1 in the high nibble,
 * two's complement in 4 bits. Weights of 5..8 bits are one int8 per byte.
 *
 * Accumulator layout: the conv kernels write their accumulators channels-last, index (py * out_w + px) * O + slot(o),
 * so the scatter of one kernel tap is one contiguous run of O adds. slot() (qsnn_runtime.c) permutes channels
 * only inside full blocks of 32 when O is even (even channels, then odd ones: a packed byte's two nibbles go to
 * two contiguous runs); linear accumulators follow the same rule with O = n. qsnn_requant works on that layout
 * (channels = O, per_channel = out_h * out_w; a vector is channels = n, per_channel = 1), and the LIF steps read
 * the current channels-last but keep membranes and spikes in the simulator's (C, H, W) order.
 *
 * Spikes are bits: a layer's n spikes are QSNN_SPIKE_WORDS(n) uint32 words, neuron i (C, H, W order) at bit
 * i % 32 of word i / 32, the bits past n zero (an eighth of the RAM of one byte per spike; the event kernels
 * skip 32 silent neurons per word). The model's API (the step's out_spikes) still hands out bytes 0/1.
 *
 * Fast kernels. Where the code generator proved their preconditions for a layer (qsnn_deploy/targets/c/layout.py,
 * LayerKernels; docs/targets/c.md lists them), the model calls:
 *   qsnn_lif_fast: the LIF update in int32 without saturation (the range analysis bounds every membrane and
 *     intermediate within the state type), the decay as one 32x32->64 multiply and two 32-bit shifts;
 *   qsnn_synaptic_fast: the synaptic current the same way, where the range analysis proves it never saturates;
 *   qsnn_conv_spikes_lif: a spike-input conv (stride 1) + sum pool + requantize + LIF in one pass, output
 *     position by output position: the active inputs reaching the position (bitmaps of the input rows, made
 *     from the spike bits once per step, walked bit by bit) become a list of weight rows, and each group of 8 output channels sums
 *     those rows in registers, 4 channels per 32-bit add (byte lanes, widened to 16-bit lanes every 17 rows).
 *     Small RAM (rows NULL): no bitmaps, each window row is cut out of the spike bits where it is needed, and
 *     the list holds list_cap entries: a position whose inputs need more is summed in parts, one or more
 *     input channels at a time (list_cap >= one channel's kh * kw * pool^2).
 *     Its weights ("words") are one uint32 per kernel row and group of 8 channels: offset-binary nibbles
 *     (w + 8), channel j of the group in byte {0, 2, 1, 3}[j % 4], low nibble for j < 4, high nibble else,
 *     so that masks with 0x0F0F0F0F and 0x00FF00FF split a word into the channels' lanes in order. A lane
 *     sums w + 8 over n rows; the conv sum is the lane minus 8 n (n * 15 <= 65535, a precondition).
 *
 * Compile-time switches: QSNN_DENSE_BASELINE: spike layers use the dense (gather) kernels instead of the
 * event-driven ones. QSNN_GENERIC_KERNELS (implied by QSNN_DENSE_BASELINE): no fast kernels, the portable
 * reference ones everywhere. Both only for cost comparisons and tests; results are identical.
 */
#ifndef QSNN_RUNTIME_H
#define QSNN_RUNTIME_H

#include <stdint.h>
#include <stddef.h>

/* uint32 words of n spike bits (see "Spikes are bits" above). */
#define QSNN_SPIKE_WORDS(n) (((n) + 31) / 32)

#ifdef __cplusplus
extern "C" {
#endif

/* Conv2d (cross-correlation, no bias) with an optional fused non-overlapping sum pool (pool == 1: none). A layer
 * with a max pool runs its conv with pool == 1 (out_h, out_w = conv_h, conv_w: the full map), then qsnn_maxpool. */
typedef struct {
    const uint8_t *weight; /* input-major, packed when packed != 0 */
    int32_t packed;        /* 1: two 4-bit weights per byte, 0: int8 */
    int32_t in_c, in_h, in_w;
    int32_t out_c, kh, kw, stride, pad;
    int32_t conv_h, conv_w; /* conv output size before pooling */
    int32_t pool;           /* sum-pool kernel, 1 = no pooling */
    int32_t out_h, out_w;   /* size after pooling (rows/cols not filling a window are dropped) */
    const uint32_t *words;  /* qsnn_conv_spikes_lif's weight layout ("Fast kernels"), else NULL */
} qsnn_conv_t;

/* Non-overlapping max pool of a channels-last conv map (ops.md#maxpool2d): per channel the maximum of each
 * kernel x kernel window, or the minimum where sign[c] = -1; rows/columns not filling a window are dropped. */
typedef struct {
    const int8_t *sign;     /* per channel (IR order): 1 max, -1 min */
    int32_t channels;       /* O, the channels-last stride (slot() order, as the conv wrote it) */
    int32_t kernel;
    int32_t in_w;           /* conv map width (conv_w) */
    int32_t out_h, out_w;   /* pooled size */
} qsnn_maxpool_t;

/* Linear (no bias) on the flattened (C, H, W) input. */
typedef struct {
    const uint8_t *weight; /* input-major, packed when packed != 0 */
    int32_t packed;
    int32_t in_n, out_n;
} qsnn_linear_t;

/* Requantize: y = (x * mult[c] + bias[c] + 2^(shift-1)) >> shift (floor shift), per channel c. */
typedef struct {
    const int32_t *mult;
    const int64_t *bias;
    int32_t shift;
    int32_t channels;
    int32_t per_channel; /* elements per channel (H * W, or 1 for vectors) */
} qsnn_requant_t;

/* LIF layer parameters (see ops.md#lif). */
typedef struct {
    int32_t threshold;
    int32_t decay_mult;
    int32_t decay_shift;
    int32_t reset_zero; /* 0: subtract, 1: zero */
    int32_t n;          /* neurons */
    int32_t channels;   /* channels of the current (n for vectors); see "Accumulator layout" above */
} qsnn_lif_t;

/* Synaptic current (ops.md#synaptic): i = saturate(((i * decay_mult + h) >> decay_shift) + x), h = 2^(shift-1)
 * (0 for shift 0), saturated to the signed state_bits-wide type; the current is never reset. */
typedef struct {
    int32_t decay_mult;
    int32_t decay_shift;
    int32_t state_bits; /* 8, 16 or 32: the saturation bounds */
    int32_t n;          /* neurons */
    int32_t channels;   /* channels of the current (n for vectors); see "Accumulator layout" above */
} qsnn_synaptic_t;

/* Recurrent input (ops.md#recurrent): y[c] = x[c] + ((a[c] * mult[c] + h) >> shift), a = W @ s, s the layer's
 * spikes of the previous step. The N x N weights are stored like a linear's: input-major (index from * N + to),
 * packed when packed != 0. */
typedef struct {
    const uint8_t *weight;
    int32_t packed;
    int32_t n;
    const int32_t *mult; /* per neuron */
    int32_t shift;
} qsnn_recurrent_t;

/* Floor (arithmetic) right shift of a signed 64-bit value, exact on every C99 compiler. */
int64_t qsnn_floor_shift(int64_t x, int32_t s);

/* Dense conv + fused pool on a uint8 map (C, H, W): acc (out_h, out_w, O) = pooled conv. */
void qsnn_conv_dense_u8(const qsnn_conv_t *conv, const uint8_t *in, int32_t *acc);
/* Event-driven conv + fused pool: scatters the weights of every nonzero input element, times its value. */
void qsnn_conv_events(const qsnn_conv_t *conv, const uint8_t *in, int32_t *acc);
/* Dense linear on a uint8 vector (gather form). */
void qsnn_linear_dense_u8(const qsnn_linear_t *fc, const uint8_t *in, int32_t *acc);
/* Event-driven linear: for every nonzero input, add value * its weight row to acc. */
void qsnn_linear_events(const qsnn_linear_t *fc, const uint8_t *in, int32_t *acc);
/* The same four on spike bits (the previous layer's spikes): every active input adds its weights once. */
void qsnn_conv_dense_bits(const qsnn_conv_t *conv, const uint32_t *in, int32_t *acc);
void qsnn_conv_events_bits(const qsnn_conv_t *conv, const uint32_t *in, int32_t *acc);
void qsnn_linear_dense_bits(const qsnn_linear_t *fc, const uint32_t *in, int32_t *acc);
void qsnn_linear_events_bits(const qsnn_linear_t *fc, const uint32_t *in, int32_t *acc);
/* Conv + sum pool + requantize + LIF of a uint8 frame, one pooled position at a time (acc: out_c int32 of
 * scratch), for a static first layer whose current the state does not cache (small parts): the same integers
 * as qsnn_conv_events, qsnn_requant and qsnn_lif_step16/32 (v_bits 16 or 32). Returns how many fired. */
int32_t qsnn_conv_u8_lif(const qsnn_conv_t *conv, const qsnn_requant_t *rq, const qsnn_lif_t *lif,
                         const uint8_t *in, int32_t *acc, void *v, int32_t v_bits, uint32_t *spikes);
/* Max pool (qsnn_maxpool_t) of the channels-last conv map in (conv_h, conv_w, O) into out (out_h, out_w, O), the
 * layout qsnn_requant and the LIF steps read. out may be in itself (in place: every pooled position is written
 * at or before the first conv position of its window, after its window was read); otherwise disjoint. */
void qsnn_maxpool(const qsnn_maxpool_t *mp, const int32_t *in, int32_t *out);
/* Requantize channels-last acc in place (int32 accumulators to int32 currents). */
void qsnn_requant(const qsnn_requant_t *rq, int32_t *x);
/* One LIF step on a channels-last current; v and spikes are (C, H, W). Writes the spike bits, returns how many fired. */
int32_t qsnn_lif_step16(const qsnn_lif_t *lif, int16_t *v, const int32_t *cur, uint32_t *spikes);
int32_t qsnn_lif_step32(const qsnn_lif_t *lif, int32_t *v, const int32_t *cur, uint32_t *spikes);

/* Fast kernels ("Fast kernels" above); v: membranes, int16 (v_bits 16) or int32 (v_bits 32). */
/* qsnn_synaptic_step in int32 without saturation: the range analysis bounds every current within the state
 * type; 1 <= decay_shift <= 31, 0 <= decay_mult < 2^decay_shift. */
void qsnn_synaptic_fast(const qsnn_synaptic_t *syn, int32_t *state, const int32_t *in, int32_t *out);
int32_t qsnn_lif_fast(const qsnn_lif_t *lif, void *v, int32_t v_bits, const int32_t *cur, uint32_t *spikes);
/* Spike-input conv + pool + requantize + LIF on the input spike bits. rows: in_c * (in_h + out_w) words of
 * scratch for the row bitmaps (then list_cap >= in_c * kh * kw * pool^2), or NULL (small RAM: the window rows
 * are cut out of the bits where needed); list: list_cap entries of scratch, at least one input channel's
 * kh * kw * pool^2. Returns how many fired. */
int32_t qsnn_conv_spikes_lif(const qsnn_conv_t *conv, const qsnn_requant_t *rq, const qsnn_lif_t *lif,
                             const uint32_t *in, uint32_t *rows, uint16_t *list, int32_t list_cap, void *v,
                             int32_t v_bits, uint32_t *spikes);

/* One synaptic step: state (C, H, W) int32, the caller's; in (the requantize's or the recurrent's output) and
 * out (the current the LIF reads) are channels-last and may be the same buffer. */
void qsnn_synaptic_step(const qsnn_synaptic_t *syn, int32_t *state, const int32_t *in, int32_t *out);
/* Add the recurrent input of spikes (the layer's own spike bits of the previous step) to the vector
 * current in, into out (may be in); acc: n int32 of scratch. */
void qsnn_recurrent_add(const qsnn_recurrent_t *rc, const uint32_t *spikes, const int32_t *in, int32_t *out,
                        int32_t *acc);

/* Argmax of counts, lowest index on ties. */
int qsnn_argmax_u16(const uint16_t *counts, int32_t n);
/* Zero n bytes (no libc needed). */
void qsnn_zero(void *p, size_t n);
/* counts[i] += spike i (bits); copies the spikes to out as bytes 0/1 when out != NULL. */
void qsnn_count_output(const uint32_t *spikes, int32_t n, uint16_t *counts, uint8_t *out);
/* dst[i] = src[i] for i < n. */
void qsnn_copy_u16(uint16_t *dst, const uint16_t *src, int32_t n);

/* The kernels the generated model uses for the previous layer's spike bits (_SPIKES), and for the uint8 frame
 * (_U8: a static model's once per sample, a stream model's event counts every step; mostly-zero frames also pay
 * only for their nonzero pixels). */
#if defined(QSNN_DENSE_BASELINE) && !defined(QSNN_GENERIC_KERNELS)
#define QSNN_GENERIC_KERNELS
#endif
#ifdef QSNN_DENSE_BASELINE
#define QSNN_CONV_SPIKES qsnn_conv_dense_bits
#define QSNN_LINEAR_SPIKES qsnn_linear_dense_bits
#define QSNN_CONV_U8 qsnn_conv_dense_u8
#define QSNN_LINEAR_U8 qsnn_linear_dense_u8
#else
#define QSNN_CONV_SPIKES qsnn_conv_events_bits
#define QSNN_LINEAR_SPIKES qsnn_linear_events_bits
#define QSNN_CONV_U8 qsnn_conv_events
#define QSNN_LINEAR_U8 qsnn_linear_events
#endif

/* Optional per-layer record hook: compile with -DQSNN_RECORD and define qsnn_record() in the application;
 * the model calls it after every LIF layer of every step with that layer's spike bits and membranes
 * (mem_bytes: 2 for int16 state, 4 for int32). */
#ifdef QSNN_RECORD
void qsnn_record(int32_t layer, const uint32_t *spikes, const void *mem, int32_t mem_bytes, int32_t n);
/* A layer with a synaptic current also calls this, right after qsnn_record, with its n currents (C, H, W). */
void qsnn_record_current(int32_t layer, const int32_t *current, int32_t n);
#define QSNN_RECORD_HOOK(layer, spikes, mem, n) qsnn_record((layer), (spikes), (mem), (int32_t)sizeof((mem)[0]), (n))
#define QSNN_RECORD_CURRENT_HOOK(layer, current, n) qsnn_record_current((layer), (current), (n))
#else
#define QSNN_RECORD_HOOK(layer, spikes, mem, n) ((void)0)
#define QSNN_RECORD_CURRENT_HOOK(layer, current, n) ((void)0)
#endif

#ifdef __cplusplus
}
#endif

#endif /* QSNN_RUNTIME_H */
