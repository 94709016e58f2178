/* Cortex-M test firmware: runs the generated model (prefix qsnn) on embedded test vectors and prints, per
 * sample, one line "S <index> P <prediction> C <count0> ... O <spikes>" where <spikes> is '0'/'1' for every
 * step and class (step-major). The vectors header (VECTORS in the Makefile, forced with -include) defines
 * VEC_COUNT, VEC_STEPS, VEC_FRAMES (1 static, VEC_STEPS stream) and vec_inputs[].
 * With -DQSNN_BENCH_REPEAT=R it then runs sample 0 R more times (for instruction counting by difference). */
#include <stdio.h>

#include "qsnn_model.h"

static qsnn_state_t state;

int main(void)
{
    int i, t, k;
    static uint8_t spikes[QSNN_NUM_CLASSES];
    static char line[VEC_STEPS * QSNN_NUM_CLASSES + 1];
    for (i = 0; i < VEC_COUNT; i++) {
        const uint8_t *x = vec_inputs + (long)i * VEC_FRAMES * QSNN_INPUT_SIZE;
        qsnn_reset(&state);
#if QSNN_STREAM
        for (t = 0; t < VEC_STEPS; t++) {
            qsnn_step(&state, x + (long)t * QSNN_INPUT_SIZE, spikes);
#else
        qsnn_set_static_input(&state, x);
        for (t = 0; t < VEC_STEPS; t++) {
            qsnn_step(&state, NULL, spikes);
#endif
            for (k = 0; k < QSNN_NUM_CLASSES; k++) {
                line[t * QSNN_NUM_CLASSES + k] = (char)('0' + spikes[k]);
            }
        }
        line[VEC_STEPS * QSNN_NUM_CLASSES] = '\0';
        printf("S %d P %d C", i, qsnn_run(&state, x, VEC_STEPS, NULL));
        for (k = 0; k < QSNN_NUM_CLASSES; k++) {
            printf(" %u", (unsigned)state.counts[k]);
        }
        printf(" O %s\n", line);
    }
#ifdef QSNN_BENCH_REPEAT
    for (i = 0; i < QSNN_BENCH_REPEAT; i++) {
        (void)qsnn_run(&state, vec_inputs, VEC_STEPS, NULL);
    }
#endif
    printf("DONE %d\n", VEC_COUNT);
    return 0;
}
