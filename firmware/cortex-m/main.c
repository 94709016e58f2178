/* Cortex-M test firmware: runs the generated model (prefix qsnn) on embedded test vectors and prints, per
 * sample, one line "S <index> P <prediction> C <count0> ... O <spikes>" where <spikes> is '0'/'1' for every
 * step and class (step-major), kept as bits until printed (RAM: the micro:bit has 16 KB). The vectors header (VECTORS in the Makefile, forced with -include) defines
 * VEC_COUNT, VEC_STEPS, VEC_FRAMES (1 static, VEC_STEPS stream) and vec_inputs[].
 * With -DQSNN_BENCH_REPEAT=R it then runs sample 0 R more times (for instruction counting by difference).
 *
 * With -DQSNN_RECORD every LIF layer's state is checked too, as a digest: after each step of the step-by-step
 * pass, one line "D <sample> <step> <crc layer 0> <crc layer 1> ..." (hex) where each CRC-32 (IEEE 802.3,
 * zlib's) covers the layer's n spike bytes followed by its n membranes as little-endian int32, then, for a
 * layer with a synaptic current, its n currents as little-endian int32 (qsnn_deploy/verify/record.py computes
 * the same from the simulator). */
#include <stdio.h>

#include "qsnn_model.h"

static qsnn_state_t state;

#ifdef QSNN_RECORD
static uint32_t layer_crc[QSNN_NUM_LAYERS]; /* running CRC registers, finalized when printed */
static int recording; /* 1 during the step-by-step pass, 0 during the qsnn_run pass */

static uint32_t crc32_update(uint32_t crc, uint8_t byte)
{
    int b;
    crc ^= byte;
    for (b = 0; b < 8; b++) {
        crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return crc;
}

/* The four bytes of a word, little-endian. */
static uint32_t crc32_word(uint32_t crc, uint32_t word)
{
    int b;
    for (b = 0; b < 4; b++) {
        crc = crc32_update(crc, (uint8_t)((word >> (8 * b)) & 0xFFu));
    }
    return crc;
}

void qsnn_record(int32_t layer, const uint32_t *spikes, const void *mem, int32_t mem_bytes, int32_t n)
{
    uint32_t crc = 0xFFFFFFFFu;
    int32_t i;
    if (!recording) {
        return;
    }
    for (i = 0; i < n; i++) { /* the spike bits as bytes 0/1 */
        crc = crc32_update(crc, (uint8_t)((spikes[i >> 5] >> (i & 31)) & 1u));
    }
    for (i = 0; i < n; i++) {
        int32_t v = mem_bytes == 2 ? (int32_t)((const int16_t *)mem)[i] : ((const int32_t *)mem)[i];
        crc = crc32_word(crc, (uint32_t)v);
    }
    layer_crc[layer] = crc;
}

/* A layer with a synaptic current: called right after qsnn_record, continues that layer's CRC. */
void qsnn_record_current(int32_t layer, const int32_t *current, int32_t n)
{
    uint32_t crc = layer_crc[layer];
    int32_t i;
    if (!recording) {
        return;
    }
    for (i = 0; i < n; i++) {
        crc = crc32_word(crc, (uint32_t)current[i]);
    }
    layer_crc[layer] = crc;
}

static void print_digests(int sample, int step)
{
    int l;
    printf("D %d %d", sample, step);
    for (l = 0; l < QSNN_NUM_LAYERS; l++) {
        printf(" %08lx", (unsigned long)(layer_crc[l] ^ 0xFFFFFFFFu));
    }
    printf("\n");
}
#define RECORDING(on) (recording = (on))
#define PRINT_DIGESTS(i, t) print_digests((i), (t))
#else
#define RECORDING(on) ((void)0)
#define PRINT_DIGESTS(i, t) ((void)0)
#endif

int main(void)
{
    int i, t, k;
    static uint8_t spikes[QSNN_NUM_CLASSES];
    static uint32_t line[(VEC_STEPS * QSNN_NUM_CLASSES + 31) / 32]; /* bit t * classes + k: spike of class k at step t */
    for (i = 0; i < VEC_COUNT; i++) {
        const uint8_t *x = vec_inputs + (long)i * VEC_FRAMES * QSNN_INPUT_SIZE;
        qsnn_reset(&state);
        RECORDING(1);
#if QSNN_STREAM
        for (t = 0; t < VEC_STEPS; t++) {
            qsnn_step(&state, x + (long)t * QSNN_INPUT_SIZE, spikes);
#else
        qsnn_set_static_input(&state, x);
        for (t = 0; t < VEC_STEPS; t++) {
            qsnn_step(&state, NULL, spikes);
#endif
            PRINT_DIGESTS(i, t);
            for (k = 0; k < QSNN_NUM_CLASSES; k++) {
                int bit = t * QSNN_NUM_CLASSES + k;
                line[bit / 32] = (line[bit / 32] & ~(1u << (bit % 32))) | ((uint32_t)spikes[k] << (bit % 32));
            }
        }
        RECORDING(0);
        printf("S %d P %d C", i, qsnn_run(&state, x, VEC_STEPS, NULL));
        for (k = 0; k < QSNN_NUM_CLASSES; k++) {
            printf(" %u", (unsigned)state.counts[k]);
        }
        printf(" O ");
        for (k = 0; k < VEC_STEPS * QSNN_NUM_CLASSES; k++) {
            putchar('0' + (int)((line[k / 32] >> (k % 32)) & 1u));
        }
        printf("\n");
    }
#ifdef QSNN_BENCH_REPEAT
    for (i = 0; i < QSNN_BENCH_REPEAT; i++) {
        (void)qsnn_run(&state, vec_inputs, VEC_STEPS, NULL);
    }
#endif
    printf("DONE %d\n", VEC_COUNT);
    return 0;
}
