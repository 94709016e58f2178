/* tb_config.h - what tb_verilator.cpp needs to know about the generated design (qsnn-deploy; do not edit). */
#ifndef TB_CONFIG_H
#define TB_CONFIG_H
#include "Vqsnn_top.h"
typedef Vqsnn_top tb_top_t;
#define TB_STATIC 1
#define TB_FRAME 256
#define TB_CLASSES 3
#define TB_NUM_LAYERS 3
static const int tb_neurons[TB_NUM_LAYERS] = { 144, 4, 3 };
#endif
