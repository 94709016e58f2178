/* Host test harness for the generated C model (prefix qsnn). Built and run by the C target's host executor
 * (qsnn_deploy/targets/c/host.py).
 *
 * usage: harness VECTORS OUTPUT [RECORD]
 * VECTORS: six little-endian uint32 (magic "QSNV", samples, steps, frame bytes, frames per sample (1 for a
 *          static input, steps for a stream), classes), then the uint8 frames of every sample.
 * OUTPUT:  per sample: steps x classes bytes of output spikes (0/1, step-major), classes little-endian
 *          uint16 spike counts, one little-endian int32 prediction.
 * With a third argument RECORD (and the model compiled with -DQSNN_RECORD): every step of every sample, for
 * every LIF layer in order, n bytes of spikes then n little-endian int32 membranes (then, for a layer with a
 * synaptic current, its n currents as little-endian int32).
 * Exit status: 0 on success, 1 on a usage or I/O error, 2 when the vectors do not fit the model.
 *
 * Each sample runs twice, step by step (the output spikes, the record) and through qsnn_run (the prediction),
 * which must agree. Compiled with -DQSNN_HARNESS_RUN_ONLY (benchmarks/c_speed.py), a sample runs once, through
 * qsnn_run alone, and its output spikes are written as zeros: one inference per inference is timed.
 */
#include <stdio.h>
#include <stdlib.h>

#include "qsnn_model.h"

static qsnn_state_t state; /* large: keep it off the stack */
static uint8_t frames[QSNN_INPUT_SIZE * 4096u];

static FILE *record_file; /* non-NULL while the step-by-step pass records */

static int write_le(FILE *f, unsigned long value, int bytes);

#ifdef QSNN_RECORD
void qsnn_record(int32_t layer, const uint32_t *spikes, const void *mem, int32_t mem_bytes, int32_t n)
{
    int32_t i;
    (void)layer;
    if (record_file == NULL) {
        return;
    }
    for (i = 0; i < n; i++) { /* the spike bits as bytes 0/1 */
        fputc((int)((spikes[i >> 5] >> (i & 31)) & 1u), record_file);
    }
    for (i = 0; i < n; i++) {
        long v = mem_bytes == 2 ? (long)((const int16_t *)mem)[i] : (long)((const int32_t *)mem)[i];
        write_le(record_file, (unsigned long)v, 4);
    }
}

void qsnn_record_current(int32_t layer, const int32_t *current, int32_t n)
{
    int32_t i;
    (void)layer;
    if (record_file == NULL) {
        return;
    }
    for (i = 0; i < n; i++) {
        write_le(record_file, (unsigned long)(long)current[i], 4);
    }
}
#endif

static int read_u32(FILE *f, unsigned long *value)
{
    unsigned char b[4];
    if (fread(b, 1, 4, f) != 4) {
        return 0;
    }
    *value = (unsigned long)b[0] | ((unsigned long)b[1] << 8) | ((unsigned long)b[2] << 16) |
             ((unsigned long)b[3] << 24);
    return 1;
}

static int write_le(FILE *f, unsigned long value, int bytes)
{
    int i;
    for (i = 0; i < bytes; i++) {
        if (fputc((int)((value >> (8 * i)) & 0xffu), f) == EOF) {
            return 0;
        }
    }
    return 1;
}

int main(int argc, char **argv)
{
    unsigned long magic, n, steps, frame_size, per_sample, classes, i, t;
    FILE *in, *out, *keep;
    uint8_t spikes[QSNN_NUM_CLASSES];
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: %s VECTORS OUTPUT [RECORD]\n", argv[0]);
        return 1;
    }
    if (argc == 4 && (record_file = fopen(argv[3], "wb")) == NULL) {
        fprintf(stderr, "cannot open %s\n", argv[3]);
        return 1;
    }

    in = fopen(argv[1], "rb");
    out = fopen(argv[2], "wb");
    if (in == NULL || out == NULL) {
        fprintf(stderr, "cannot open %s or %s\n", argv[1], argv[2]);
        return 1;
    }
    if (!read_u32(in, &magic) || !read_u32(in, &n) || !read_u32(in, &steps) || !read_u32(in, &frame_size) ||
        !read_u32(in, &per_sample) || !read_u32(in, &classes)) {
        fprintf(stderr, "truncated header\n");
        return 1;
    }
    if (magic != 0x564e5351ul || frame_size != QSNN_INPUT_SIZE || classes != QSNN_NUM_CLASSES ||
        per_sample != (QSNN_STREAM ? steps : 1ul) || per_sample > 4096ul || steps > 65535ul) {
        fprintf(stderr, "vectors do not fit this model\n");
        return 2;
    }
    for (i = 0; i < n; i++) {
        int pred;
        unsigned long k;
        if (fread(frames, frame_size, per_sample, in) != per_sample) {
            fprintf(stderr, "truncated vectors at sample %lu\n", i);
            return 1;
        }
#ifdef QSNN_HARNESS_RUN_ONLY
        {
            uint16_t counts[QSNN_NUM_CLASSES];
            pred = qsnn_run(&state, frames, (int)steps, counts);
            for (k = 0; k < QSNN_NUM_CLASSES; k++) {
                spikes[k] = 0;
            }
            for (t = 0; t < steps; t++) {
                fwrite(spikes, 1, QSNN_NUM_CLASSES, out);
            }
            for (k = 0; k < QSNN_NUM_CLASSES; k++) {
                write_le(out, counts[k], 2);
            }
            if (!write_le(out, (unsigned long)(long)pred, 4)) {
                return 1;
            }
            continue;
        }
#endif
        qsnn_reset(&state);
#if QSNN_STREAM
        for (t = 0; t < steps; t++) {
            qsnn_step(&state, frames + t * frame_size, spikes);
            fwrite(spikes, 1, QSNN_NUM_CLASSES, out);
        }
#else
        qsnn_set_static_input(&state, frames);
        for (t = 0; t < steps; t++) {
            qsnn_step(&state, NULL, spikes);
            fwrite(spikes, 1, QSNN_NUM_CLASSES, out);
        }
#endif
        for (k = 0; k < QSNN_NUM_CLASSES; k++) {
            write_le(out, state.counts[k], 2);
        }
        keep = record_file;
        record_file = NULL; /* the qsnn_run pass below must not record twice */
        /* qsnn_run must agree with the step-by-step path: run it too and report its prediction. */
        pred = qsnn_run(&state, frames, (int)steps, NULL);
        record_file = keep;
        if (!write_le(out, (unsigned long)(long)pred, 4)) {
            return 1;
        }
    }
    if (record_file != NULL) {
        fclose(record_file);
    }
    fclose(in);
    return fclose(out) == 0 ? 0 : 1;
}
