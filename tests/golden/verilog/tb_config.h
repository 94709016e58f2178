/* tb_config.h - what tb_verilator.cpp needs to know about the generated design (qsnn-deploy; do not edit). */
#ifndef TB_CONFIG_H
#define TB_CONFIG_H
#include "Vqsnn_top.h"
typedef Vqsnn_top tb_top_t;
#define TB_STATIC 1
#define TB_FRAME 256
#define TB_CLASSES 3
#define TB_NUM_LAYERS 3
#define TB_LANES 1 /* neurons per trace beat */
#define TB_LOAD_WORDS 0 /* weight words the design takes over the input stream after reset (arch=serial) */
#define TB_LOAD_BYTES 0 /* bytes per weight word, low byte first */
#define TB_TRACE_PORTS 3
static const int tb_neurons[TB_NUM_LAYERS] = { 144, 4, 3 };
/* neurons per channel (H * W): trace lane j is neuron index + j * tb_per_channel[layer] */
static const int tb_per_channel[TB_NUM_LAYERS] = { 36, 1, 1 };
/* one cycle's beat of a trace port: lane j (present when bit j of lanes) is neuron index + j * per_channel */
struct tb_beat {
    uint32_t layer;
    uint64_t index, lanes, spikes;
    uint32_t membrane[TB_LANES], current[TB_LANES];
};
/* lane j of a 32-bit-per-lane port of n lanes (Verilator holds wider ports as arrays of 32-bit words) */
#define TB_LANE1(port, j) ((uint32_t)(port))
#define TB_LANE2(port, j) ((uint32_t)((uint64_t)(port) >> (32 * (j))))
#define TB_LANEN(port, j) ((uint32_t)(port)[(j)])
/* the beats of this cycle, one per valid trace port; returns how many */
static int tb_trace(const tb_top_t &top, tb_beat *beats)
{
    int n = 0;
    if (top.tr0_valid) {
        tb_beat &b = beats[n++];
        b.layer = 0;
        b.index = (uint64_t)top.tr0_index;
        b.lanes = (uint64_t)top.tr0_lanes;
        b.spikes = (uint64_t)top.tr0_spikes;
        for (int j = 0; j < 1; j++) {
            b.membrane[j] = TB_LANE1(top.tr0_membranes, j);
            b.current[j] = 0;
        }
    }
    if (top.tr1_valid) {
        tb_beat &b = beats[n++];
        b.layer = 1;
        b.index = (uint64_t)top.tr1_index;
        b.lanes = (uint64_t)top.tr1_lanes;
        b.spikes = (uint64_t)top.tr1_spikes;
        for (int j = 0; j < 1; j++) {
            b.membrane[j] = TB_LANE1(top.tr1_membranes, j);
            b.current[j] = 0;
        }
    }
    if (top.tr2_valid) {
        tb_beat &b = beats[n++];
        b.layer = 2;
        b.index = (uint64_t)top.tr2_index;
        b.lanes = (uint64_t)top.tr2_lanes;
        b.spikes = (uint64_t)top.tr2_spikes;
        for (int j = 0; j < 1; j++) {
            b.membrane[j] = TB_LANE1(top.tr2_membranes, j);
            b.current[j] = 0;
        }
    }
    return n;
}
#endif
