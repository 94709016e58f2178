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
#define TB_LOAD_WORDS 129 /* weight words the design takes over the input stream after reset (arch=serial) */
#define TB_LOAD_BYTES 2 /* bytes per weight word, low byte first */
static const uint64_t tb_load[TB_LOAD_WORDS] = {
44562u, 32656u, 1869u, 58685u, 14169u, 7866u, 50089u, 55131u, 12949u, 5394u, 934u, 58320u, 19970u, 59127u, 56307u, 24978u,
50065u, 50593u, 12439u, 11837u, 40197u, 44835u, 57545u, 21294u, 63045u, 48687u, 16135u, 61339u, 28007u, 36922u, 12498u, 14225u,
54182u, 42061u, 55734u, 60675u, 30566u, 28011u, 49364u, 1431u, 4617u, 26206u, 47906u, 16554u, 25120u, 28386u, 53700u, 42998u,
5231u, 44415u, 43440u, 43799u, 52555u, 26304u, 15833u, 9679u, 32199u, 866u, 37070u, 47047u, 49570u, 13991u, 59209u, 54495u,
41557u, 13588u, 38751u, 64528u, 16719u, 2896u, 15004u, 17172u, 51706u, 41951u, 38397u, 7156u, 49924u, 48723u, 18006u, 22054u,
28987u, 378u, 810u, 29155u, 1191u, 47894u, 50371u, 28695u, 38038u, 20569u, 11642u, 2741u, 20570u, 22519u, 63893u, 8551u,
20350u, 10651u, 272u, 25687u, 25678u, 38902u, 4190u, 20821u, 42924u, 60816u, 1197u, 56300u, 16038u, 29605u, 57803u, 19238u,
41479u, 476u, 38527u, 62001u, 38434u, 26495u, 31307u, 43686u, 20627u, 12377u, 53749u, 17555u, 32011u, 1457u, 2541u, 1845u,
2523u
};
#define TB_TRACE_PORTS 1
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
    if (top.tr_valid) {
        tb_beat &b = beats[n++];
        b.layer = (uint32_t)top.tr_layer;
        b.index = (uint64_t)top.tr_index;
        b.lanes = (uint64_t)top.tr_lanes;
        b.spikes = (uint64_t)top.tr_spikes;
        for (int j = 0; j < 1; j++) {
            b.membrane[j] = TB_LANE1(top.tr_membranes, j);
            b.current[j] = 0;
        }
    }
    return n;
}
#endif
