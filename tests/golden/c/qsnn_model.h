/* qsnn_model.h - API of the generated model (qsnn-deploy, from sha256-d54839391dcf0ad7; do not edit).
 *
 * The caller owns qsnn_state_t (about 1242 bytes): no heap, no hidden state, one state per
 * concurrent inference. Typical use: qsnn_run(&state, input, QSNN_NUM_STEPS, counts).
 */
#ifndef QSNN_MODEL_H
#define QSNN_MODEL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define QSNN_INPUT_C 1
#define QSNN_INPUT_H 16
#define QSNN_INPUT_W 16
#define QSNN_INPUT_SIZE 256 /* bytes of one uint8 frame (C, H, W) */
#define QSNN_STREAM 0 /* 0: the same frame every step, 1: one frame per step */
#define QSNN_NUM_STEPS 20 /* the IR's default number of steps */
#define QSNN_NUM_CLASSES 3
#define QSNN_NUM_LAYERS 3 /* LIF layers */

/* Builds for comparisons and tests: the dense baseline uses the portable generic kernels only. */
#if defined(QSNN_DENSE_BASELINE) && !defined(QSNN_GENERIC_KERNELS)
#define QSNN_GENERIC_KERNELS
#endif

typedef struct {
    int32_t acc[4]; /* scratch accumulators / currents of the layer being computed */
    int32_t cur_static[144]; /* current of lif1, computed once per sample */
    int32_t mem_lif1[144];
    int32_t mem_lif2[4];
    int32_t mem_lif3[3];
    uint32_t layer_spikes[QSNN_NUM_LAYERS]; /* spikes per LIF layer since the last reset */
    uint16_t counts[QSNN_NUM_CLASSES];      /* output spikes per class since the last reset */
    uint32_t spk_lif1[5]; /* 144 spike bits */
    uint32_t spk_lif2[1]; /* 4 spike bits */
    uint32_t spk_lif3[1]; /* 3 spike bits */
} qsnn_state_t;

/* Zero membranes, spikes, counts and the static current. */
void qsnn_reset(qsnn_state_t *s);
/* Compute the layers before the first LIF on frame (QSNN_INPUT_SIZE bytes) once; steps reuse it. */
void qsnn_set_static_input(qsnn_state_t *s, const uint8_t *frame);
/* One time step. frame: ignored (pass NULL); set it with qsnn_set_static_input.
 * out_spikes: QSNN_NUM_CLASSES bytes (0/1) of this step's output, or NULL. */
void qsnn_step(qsnn_state_t *s, const uint8_t *frame, uint8_t *out_spikes);
/* Reset, run num_steps steps on input (one frame), copy the
 * output spike counts to counts (or NULL), return the class: argmax, lowest index on ties. num_steps <= 65535. */
int qsnn_run(qsnn_state_t *s, const uint8_t *input, int num_steps, uint16_t *counts);

#ifdef __cplusplus
}
#endif

#endif /* QSNN_MODEL_H */
