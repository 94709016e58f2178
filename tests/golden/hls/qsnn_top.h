/* qsnn_top.h - the HLS top function of the generated model (qsnn-deploy, from sha256-d54839391dcf0ad7; do not edit).
 *
 * One call runs one inference of num_steps steps:
 *   frames      AXI-Stream in, one uint8 per beat: one (C, H, W) frame per inference (QSNN_INPUT_SIZE beats)
 *   spikes_out  AXI-Stream out, one beat per step: bit k = output neuron k fired this step
 *   num_steps   s_axilite (1 <= num_steps <= 65535; the IR's default is QSNN_NUM_STEPS)
 *   return      s_axilite: the predicted class, argmax of the output spike counts (lowest index on ties)
 */
#ifndef QSNN_TOP_H
#define QSNN_TOP_H

#include <ap_int.h>
#include <hls_stream.h>

#define QSNN_INPUT_C 1
#define QSNN_INPUT_H 16
#define QSNN_INPUT_W 16
#define QSNN_INPUT_SIZE 256 /* bytes of one uint8 frame (C, H, W) */
#define QSNN_STREAM 0 /* 0: one frame per inference, 1: one frame per step */
#define QSNN_NUM_STEPS 20
#define QSNN_NUM_CLASSES 3
#define QSNN_NUM_LAYERS 3 /* LIF layers */

typedef ap_uint<3> qsnn_spikes_t;

int qsnn_top(hls::stream<ap_uint<8> > &frames, hls::stream<qsnn_spikes_t> &spikes_out, ap_uint<16> num_steps);

#endif /* QSNN_TOP_H */
