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
static const uint16_t tb_load[TB_LOAD_WORDS] = {
44562, 32656, 1869, 58685, 14169, 7866, 50089, 55131, 12949, 5394, 934, 58320, 19970, 59127, 56307, 24978,
50065, 50593, 12439, 11837, 40197, 44835, 57545, 21294, 63045, 48687, 16135, 61339, 28007, 36922, 12498, 14225,
54182, 42061, 55734, 60675, 30566, 28011, 49364, 1431, 4617, 26206, 47906, 16554, 25120, 28386, 53700, 42998,
5231, 44415, 43440, 43799, 52555, 26304, 15833, 9679, 32199, 866, 37070, 47047, 49570, 13991, 59209, 54495,
41557, 13588, 38751, 64528, 16719, 2896, 15004, 17172, 51706, 41951, 38397, 7156, 49924, 48723, 18006, 22054,
28987, 378, 810, 29155, 1191, 47894, 50371, 28695, 38038, 20569, 11642, 2741, 20570, 22519, 63893, 8551,
20350, 10651, 272, 25687, 25678, 38902, 4190, 20821, 42924, 60816, 1197, 56300, 16038, 29605, 57803, 19238,
41479, 476, 38527, 62001, 38434, 26495, 31307, 43686, 20627, 12377, 53749, 17555, 32011, 1457, 2541, 1845,
2523
};
/* lane j of tr_membranes (32 bits each; Verilator holds wider ports as arrays of 32-bit words) */
#define TB_MEMBRANE(top, j) ((uint32_t)(top).tr_membranes)
static const int tb_neurons[TB_NUM_LAYERS] = { 144, 4, 3 };
/* neurons per channel (H * W): trace lane j is neuron tr_index + j * tb_per_channel[layer] */
static const int tb_per_channel[TB_NUM_LAYERS] = { 36, 1, 1 };
#endif
