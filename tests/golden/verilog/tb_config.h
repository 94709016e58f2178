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
/* lane j of tr_membranes (32 bits each; Verilator holds wider ports as arrays of 32-bit words) */
#define TB_MEMBRANE(top, j) ((uint32_t)(top).tr_membranes)
static const int tb_neurons[TB_NUM_LAYERS] = { 144, 4, 3 };
/* neurons per channel (H * W): trace lane j is neuron tr_index + j * tb_per_channel[layer] */
static const int tb_per_channel[TB_NUM_LAYERS] = { 36, 1, 1 };
#endif
