/* qsnn_hls.h - HLS C++ kernels of the qsnn-deploy hls target (hand-written, copied next to the project).
 *
 * Vitis-HLS-style C++ on the Xilinx ap_types (ap_int.h, hls_stream.h), which the build supplies: they are not
 * part of this project. Semantics follow docs/ir/ops.md bit for bit; docs/targets/hls.md explains the layout,
 * the pragmas and the cycle estimate built on them.
 *
 * Every kernel is a template on a layer configuration struct the generator writes (<prefix>_data.h):
 *   C, H, W          input map (a linear layer: C = F, H = W = 1)
 *   O                output channels (features)
 *   KH, KW, STRIDE, PAD, POOL, OH, OW   conv geometry, OH/OW after the pool (linear: all 1, PAD 0); a layer
 *                    with a max pool also has <lif>_cfg_conv: the same with POOL 1 and the conv's full OH, OW, P
 *   P = OH * OW      neurons per channel
 *   TAPS, ROW_BYTES  weight ROM shape: TAPS rows (C * KH * KW, or F), one row holds the O weights one input
 *                    element meets through one kernel tap, packed two 4-bit weights per byte (PACKED) or int8
 *   acc_t, cur_t, prod_t, mem_t, lif_t, mult_t   ap_int types sized from the range analysis
 *   SHIFT, ROUND     requantize shift and 2^(SHIFT-1)
 *   THRESHOLD, DECAY_MULT, DECAY_SHIFT, DECAY_HALF, RESET_ZERO, SATURATE, STATE_MIN, STATE_MAX   the LIF
 *
 * A layer with a recurrent input (IR version 3) also has <rec>_cfg: a linear layer of N inputs and N outputs
 * (the same names, its ROM row j the weights spike j meets) plus mult_t, prod_t, SHIFT, ROUND for the rescale;
 * a layer with a synaptic current has <syn>_cfg: N, syn_t (the current), sum_t, DECAY_MULT, DECAY_SHIFT,
 * DECAY_HALF, SATURATE, STATE_MIN, STATE_MAX. Their state (the current, the previous step's spikes and their
 * events) lives in the top function like the membranes: no kernel keeps any of its own.
 *
 * Layouts: inputs, spikes and membranes are in the IR's (C, H, W) order (neuron i = o * P + p); accumulators are
 * acc[p][o], partitioned completely along o, so one ROM row (also partitioned) updates all O channels of one
 * output position in one cycle. The kernels are event-driven: whoever produces a layer's input (the frame
 * reader, a LIF layer) also lists its nonzero elements, in order (the events), and only those scatter their
 * weights (value x weight row) onto the accumulators; no loop scans for them.
 */
#ifndef QSNN_HLS_H
#define QSNN_HLS_H

#include <ap_int.h>
#include <hls_stream.h>

#if defined(QSNN_HLS_RECORD) && !defined(__SYNTHESIS__)
/* C simulation only: the testbench defines this; the top function calls it after every LIF layer of every
 * step with that layer's spikes (0/1) and membranes, in (C, H, W) order. */
void qsnn_hls_record(int layer, const unsigned char *spikes, const long long *membranes, int n);
/* ... and, for a layer with a synaptic current, after its membranes: its currents, in (C, H, W) order. */
void qsnn_hls_record_current(int layer, const long long *currents, int n);
#endif

namespace qsnn_hls {

/* Weight o of ROM row `row`: a sign-extended nibble (PACKED: weight 2k in the low nibble of byte k, 2k+1 in
 * the high one) or an int8 byte. */
template <class CFG>
inline ap_int<8> weight(const unsigned char row[CFG::ROW_BYTES], int o)
{
#pragma HLS INLINE
    ap_uint<8> byte = row[CFG::PACKED ? o / 2 : o];
    if (CFG::PACKED) {
        ap_int<4> nibble = (o % 2) ? byte.range(7, 4) : byte.range(3, 0);
        return nibble;
    }
    ap_int<8> value = byte;
    return value;
}

/* Zero the accumulators: P cycles (all O channels of a position at once). */
template <class CFG>
void clear(typename CFG::acc_t acc[CFG::P][CFG::O])
{
#pragma HLS INLINE
clear_positions:
    for (int p = 0; p < CFG::P; p++) {
#pragma HLS PIPELINE II = 1
        for (int o = 0; o < CFG::O; o++) {
#pragma HLS UNROLL
            acc[p][o] = 0;
        }
    }
}

/* Conv2d (cross-correlation, no bias) with the following non-overlapping sum pool fused in (POOL 1: none),
 * event-driven: events[0..count) lists the nonzero inputs in order; every one (c, iy, ix) of value x walks the
 * taps that can reach a conv output, those whose row and column are congruent to iy + PAD and ix + PAD modulo
 * STRIDE: TKH x TKW = ceil(KH / STRIDE) x ceil(KW / STRIDE) of them (all KH * KW at stride 1; 4 of the 36 of a
 * 6x6 stride-4 conv, the fold of a spike pool into a 3x3 stride-2 one). A tap that lands on a conv output
 * inside a full pool window adds x * (its ROM row) to that pooled position's O accumulators. One tap per cycle
 * (II = 1), TKH * TKW cycles per event. Every partial sum fits acc_t in any order (range analysis). */
template <class CFG, typename in_t>
void conv_events(const in_t in[CFG::C * CFG::H * CFG::W], const int events[CFG::C * CFG::H * CFG::W], int count,
                 const unsigned char w[CFG::TAPS][CFG::ROW_BYTES], typename CFG::acc_t acc[CFG::P][CFG::O])
{
#pragma HLS ARRAY_PARTITION variable = w complete dim = 2
#pragma HLS ARRAY_PARTITION variable = acc complete dim = 2
    const int TKH = (CFG::KH + CFG::STRIDE - 1) / CFG::STRIDE, TKW = (CFG::KW + CFG::STRIDE - 1) / CFG::STRIDE;
    clear<CFG>(acc);
scatter_events:
    for (int e = 0; e < count; e++) {
#pragma HLS LOOP_TRIPCOUNT min = 0 max = CFG::C * CFG::H * CFG::W
        const int i = events[e];
        const ap_uint<8> x = in[i];
        const int c = i / (CFG::H * CFG::W), iy = (i / CFG::W) % CFG::H, ix = i % CFG::W;
        const int ry = (iy + CFG::PAD) % CFG::STRIDE, rx = (ix + CFG::PAD) % CFG::STRIDE; /* first taps */
    scatter_taps:
        for (int k = 0; k < TKH * TKW; k++) {
#pragma HLS PIPELINE II = 1
            const int kh = ry + (k / TKW) * CFG::STRIDE, kw = rx + (k % TKW) * CFG::STRIDE;
            const int ty = iy + CFG::PAD - kh, tx = ix + CFG::PAD - kw; /* conv coordinate * STRIDE */
            if (kh >= CFG::KH || kw >= CFG::KW || ty < 0 || tx < 0) {
                continue; /* beyond the kernel, or this tap reaches no conv output (padding side) */
            }
            const int oy = ty / CFG::STRIDE, ox = tx / CFG::STRIDE;
            if (oy >= CFG::OH * CFG::POOL || ox >= CFG::OW * CFG::POOL) {
                continue; /* beyond the last full pool window (or the conv output): dropped, as ops.md says */
            }
            const int p = (oy / CFG::POOL) * CFG::OW + ox / CFG::POOL;
            const int tap = (c * CFG::KH + kh) * CFG::KW + kw;
            for (int o = 0; o < CFG::O; o++) {
#pragma HLS UNROLL
                acc[p][o] += x * weight<CFG>(w[tap], o);
            }
        }
    }
}

/* Max pool (ops.md#maxpool2d) of a conv's full map into the layer's pooled accumulators: per channel the
 * maximum of each POOL x POOL window, or the minimum where sign[o] = -1 (a negative scale in the float model);
 * rows/columns not filling a window are never read. CONV is the layer's configuration with POOL 1 and the conv's
 * OH, OW, P (the conv kernel filled conv[CONV::P][O]); the result is one of the inputs, so acc_t holds it. One
 * conv position per cycle, all O channels at once: P * POOL^2 cycles. */
template <class CFG, class CONV>
void maxpool(const typename CONV::acc_t conv[CONV::P][CONV::O], const signed char sign[CFG::O],
             typename CFG::acc_t acc[CFG::P][CFG::O])
{
#pragma HLS ARRAY_PARTITION variable = conv complete dim = 2
#pragma HLS ARRAY_PARTITION variable = acc complete dim = 2
#pragma HLS ARRAY_PARTITION variable = sign complete
maxpool_positions:
    for (int p = 0; p < CFG::P; p++) {
    maxpool_window:
        for (int k = 0; k < CFG::POOL * CFG::POOL; k++) {
#pragma HLS PIPELINE II = 1
            const int oy = (p / CFG::OW) * CFG::POOL + k / CFG::POOL, ox = (p % CFG::OW) * CFG::POOL + k % CFG::POOL;
            const int q = oy * CONV::OW + ox;
            for (int o = 0; o < CFG::O; o++) {
#pragma HLS UNROLL
                const typename CFG::acc_t x = conv[q][o];
                const bool is_min = sign[o] < 0;
                if (k == 0 || (is_min ? x < acc[p][o] : x > acc[p][o])) {
                    acc[p][o] = x;
                }
            }
        }
    }
}

/* Linear (no bias) on the flattened (C, H, W) input, event-driven: one event (events[0..count), the nonzero
 * inputs) per cycle adds x * (its ROM row) to all O accumulators. */
template <class CFG, typename in_t>
void linear_events(const in_t in[CFG::TAPS], const int events[CFG::TAPS], int count,
                   const unsigned char w[CFG::TAPS][CFG::ROW_BYTES], typename CFG::acc_t acc[CFG::P][CFG::O])
{
#pragma HLS ARRAY_PARTITION variable = w complete dim = 2
#pragma HLS ARRAY_PARTITION variable = acc complete dim = 2
    clear<CFG>(acc);
scatter_events:
    for (int e = 0; e < count; e++) {
#pragma HLS LOOP_TRIPCOUNT min = 0 max = CFG::TAPS
#pragma HLS PIPELINE II = 1
        const int i = events[e];
        const ap_uint<8> x = in[i];
        for (int o = 0; o < CFG::O; o++) {
#pragma HLS UNROLL
            acc[0][o] += x * weight<CFG>(w[i], o);
        }
    }
}

/* Requantize one accumulator (ops.md#requantize): (x * m + b + 2^(SHIFT-1)) >> SHIFT, the shift arithmetic
 * (floor) on a signed ap_int. prod_t holds x * m + b + r exactly (its width is the range analysis' peak). */
template <class CFG>
inline typename CFG::cur_t requantize(typename CFG::acc_t x, typename CFG::mult_t m, long long b)
{
#pragma HLS INLINE
    typedef typename CFG::prod_t prod_t;
    const prod_t t = prod_t(x * m) + prod_t(b) + prod_t(CFG::ROUND);
    return typename CFG::cur_t(t >> CFG::SHIFT);
}

/* One LIF neuron, one step (ops.md#lif): reset from the previous membrane, decay rounded half up, add the
 * current, subtract the threshold (reset subtract), saturate to the state type, fire when strictly above the
 * threshold. lif_t holds every intermediate exactly; SATURATE is false where the range analysis proves the
 * clamp is the identity. */
template <class CFG>
inline ap_uint<1> lif_neuron(typename CFG::mem_t &v, typename CFG::cur_t current)
{
#pragma HLS INLINE
    typedef typename CFG::lif_t lif_t;
    const lif_t threshold = CFG::THRESHOLD;
    lif_t kept = v;
    const bool reset = kept > threshold;
    if (CFG::RESET_ZERO && reset) {
        kept = 0;
    }
    const ap_uint<CFG::DECAY_SHIFT + 1> m = CFG::DECAY_MULT;
    lif_t u = lif_t((kept * m + CFG::DECAY_HALF) >> CFG::DECAY_SHIFT) + lif_t(current);
    if (!CFG::RESET_ZERO && reset) {
        u -= threshold;
    }
    if (CFG::SATURATE) {
        if (u > lif_t(CFG::STATE_MAX)) {
            u = CFG::STATE_MAX;
        } else if (u < lif_t(CFG::STATE_MIN)) {
            u = CFG::STATE_MIN;
        }
    }
    v = typename CFG::mem_t(u);
    return u > threshold ? 1 : 0;
}

/* Requantize every accumulator into a current array in (C, H, W) order (the static first layer's current,
 * computed once per inference): O * P cycles. */
template <class CFG>
void requantize_all(const typename CFG::acc_t acc[CFG::P][CFG::O], const int mult[CFG::O],
                    const long long bias[CFG::O], typename CFG::cur_t current[CFG::O * CFG::P])
{
requantize_channels:
    for (int o = 0; o < CFG::O; o++) {
    requantize_positions:
        for (int p = 0; p < CFG::P; p++) {
#pragma HLS PIPELINE II = 1
            current[o * CFG::P + p] = requantize<CFG>(acc[p][o], mult[o], bias[o]);
        }
    }
}

/* One LIF step of a layer on a precomputed current: O * P cycles. Writes the spikes and lists the neurons
 * that fired (the next layer's events); returns how many. */
template <class CFG>
int lif_layer(const typename CFG::cur_t current[CFG::O * CFG::P], typename CFG::mem_t mem[CFG::O * CFG::P],
              ap_uint<1> spikes[CFG::O * CFG::P], int events[CFG::O * CFG::P])
{
    int count = 0;
lif_neurons:
    for (int i = 0; i < CFG::O * CFG::P; i++) {
#pragma HLS PIPELINE II = 1
        const ap_uint<1> spike = lif_neuron<CFG>(mem[i], current[i]);
        spikes[i] = spike;
        if (spike) {
            events[count] = i;
            count++;
        }
    }
    return count;
}

/* Requantize and LIF fused, one neuron per cycle: O * P cycles; spikes and events as lif_layer. */
template <class CFG>
int requantize_lif(const typename CFG::acc_t acc[CFG::P][CFG::O], const int mult[CFG::O],
                   const long long bias[CFG::O], typename CFG::mem_t mem[CFG::O * CFG::P],
                   ap_uint<1> spikes[CFG::O * CFG::P], int events[CFG::O * CFG::P])
{
    int count = 0;
requantize_lif_channels:
    for (int o = 0; o < CFG::O; o++) {
    requantize_lif_positions:
        for (int p = 0; p < CFG::P; p++) {
#pragma HLS PIPELINE II = 1
            const int i = o * CFG::P + p;
            const ap_uint<1> spike = lif_neuron<CFG>(mem[i], requantize<CFG>(acc[p][o], mult[o], bias[o]));
            spikes[i] = spike;
            if (spike) {
                events[count] = i;
                count++;
            }
        }
    }
    return count;
}

/* Recurrent input (ops.md#recurrent), one neuron per cycle: out[c] = in[c] + ((a[c] * mult[c] + ROUND) >> SHIFT),
 * with a[c] the weights of the layer's spikes of the previous step (linear_events on RCFG filled acc). in and
 * out may be the same array (each element is read before it is written). prod_t holds a * m + ROUND and the
 * feed-forward current beside it; cur_t the sum (range analysis). N cycles. */
template <class RCFG, class CFG>
void recurrent_add(const typename CFG::cur_t in[RCFG::O], const typename RCFG::acc_t acc[1][RCFG::O],
                   const int mult[RCFG::O], typename CFG::cur_t out[RCFG::O])
{
#pragma HLS ARRAY_PARTITION variable = acc complete dim = 2
    typedef typename RCFG::prod_t prod_t;
recurrent_neurons:
    for (int c = 0; c < RCFG::O; c++) {
#pragma HLS PIPELINE II = 1
        const typename RCFG::mult_t m = mult[c];
        const prod_t t = prod_t(acc[0][c] * m) + prod_t(RCFG::ROUND);
        out[c] = typename CFG::cur_t(prod_t(in[c]) + prod_t(t >> RCFG::SHIFT));
    }
}

/* One step of a synaptic current (ops.md#synaptic), one neuron per cycle: the current decays, rounded half up
 * like the LIF's, adds the input, saturates to its state type (SATURATE is false where the range analysis proves
 * the clamp is the identity), and is the output the LIF integrates at this same step. in and out may be the same
 * array. N cycles. */
template <class SCFG, class CFG>
void synaptic_step(const typename CFG::cur_t in[SCFG::N], typename SCFG::syn_t state[SCFG::N],
                   typename CFG::cur_t out[SCFG::N])
{
    typedef typename SCFG::sum_t sum_t;
synaptic_neurons:
    for (int i = 0; i < SCFG::N; i++) {
#pragma HLS PIPELINE II = 1
        const ap_uint<SCFG::DECAY_SHIFT + 1> m = SCFG::DECAY_MULT;
        const typename SCFG::syn_t current = state[i];
        sum_t u = sum_t((current * m + SCFG::DECAY_HALF) >> SCFG::DECAY_SHIFT) + sum_t(in[i]);
        if (SCFG::SATURATE) {
            if (u > sum_t(SCFG::STATE_MAX)) {
                u = SCFG::STATE_MAX;
            } else if (u < sum_t(SCFG::STATE_MIN)) {
                u = SCFG::STATE_MIN;
            }
        }
        state[i] = typename SCFG::syn_t(u);
        out[i] = typename CFG::cur_t(u);
    }
}

/* Zero a layer's membranes (the state before step 0 of every sample): N cycles. */
template <int N, typename mem_t>
void reset_state(mem_t mem[N])
{
reset_neurons:
    for (int i = 0; i < N; i++) {
#pragma HLS PIPELINE II = 1
        mem[i] = 0;
    }
}

/* Read one uint8 frame of N bytes from the input stream, one beat per cycle, listing its nonzero bytes (the
 * first layer's events); returns how many. */
template <int N>
int read_frame(hls::stream<ap_uint<8> > &frames, ap_uint<8> frame[N], int events[N])
{
    int count = 0;
read_beats:
    for (int i = 0; i < N; i++) {
#pragma HLS PIPELINE II = 1
        const ap_uint<8> beat = frames.read();
        frame[i] = beat;
        if (beat != 0) {
            events[count] = i;
            count++;
        }
    }
    return count;
}

/* Pack this step's K output spikes into one stream beat (bit k = class k) and add them to the counts. */
template <int K>
void write_spikes(const ap_uint<1> spikes[K], ap_uint<16> counts[K], hls::stream<ap_uint<K> > &out)
{
#pragma HLS ARRAY_PARTITION variable = spikes complete
#pragma HLS ARRAY_PARTITION variable = counts complete
    ap_uint<K> beat = 0;
    for (int k = 0; k < K; k++) {
#pragma HLS UNROLL
        beat[k] = spikes[k];
        counts[k] += spikes[k];
    }
    out.write(beat);
}

/* Argmax of the counts, the lowest index on ties. */
template <int K>
int argmax(const ap_uint<16> counts[K])
{
    int best = 0;
    for (int k = 1; k < K; k++) {
#pragma HLS UNROLL
        if (counts[k] > counts[best]) {
            best = k;
        }
    }
    return best;
}

#if defined(QSNN_HLS_RECORD) && !defined(__SYNTHESIS__)
/* C simulation only: hand one layer's spikes and membranes to the testbench as plain integers. */
template <int N, typename mem_t>
void record(int layer, const ap_uint<1> spikes[N], const mem_t mem[N])
{
    static unsigned char s[N];
    static long long v[N];
    for (int i = 0; i < N; i++) {
        s[i] = (unsigned char)spikes[i].to_uint();
        v[i] = (long long)mem[i].to_int64();
    }
    qsnn_hls_record(layer, s, v, N);
}

/* C simulation only: hand one layer's synaptic currents to the testbench, after its record. */
template <int N, typename syn_t>
void record_current(int layer, const syn_t current[N])
{
    static long long c[N];
    for (int i = 0; i < N; i++) {
        c[i] = (long long)current[i].to_int64();
    }
    qsnn_hls_record_current(layer, c, N);
}
#endif

} // namespace qsnn_hls

#endif /* QSNN_HLS_H */
