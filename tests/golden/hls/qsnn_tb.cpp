/* qsnn_tb.cpp - C-simulation testbench of the generated HLS model (qsnn-deploy, from sha256-d54839391dcf0ad7; do not edit).
 *
 * usage: qsnn_tb VECTORS OUTPUT [RECORD]
 * VECTORS: six little-endian uint32 (magic "QSNV", samples, steps, frame bytes, frames per sample (1 for a
 *          static input, steps for a stream), classes), then the uint8 frames of every sample
 *          (qsnn_deploy/verify/vectors.py writes it).
 * OUTPUT:  per sample: steps x classes bytes of output spikes (0/1, step-major), classes little-endian uint16
 *          spike counts, one little-endian int32 prediction (the top function's return value).
 * RECORD (built with -DQSNN_HLS_RECORD): every step of every sample, for every LIF layer in order, n bytes of
 *          spikes then n little-endian int32 membranes.
 * Exit status: 0 on success, 1 on a usage or I/O error, 2 when the vectors do not fit the model, 3 when the top
 * function left beats unread or wrote the wrong number.
 */
#include <cstdio>
#include <vector>

#include "qsnn_top.h"

static FILE *record_file;

static bool write_le(FILE *f, unsigned long long value, int bytes)
{
    for (int i = 0; i < bytes; i++) {
        if (std::fputc((int)((value >> (8 * i)) & 0xffu), f) == EOF) {
            return false;
        }
    }
    return true;
}

#ifdef QSNN_HLS_RECORD
void qsnn_hls_record(int layer, const unsigned char *spikes, const long long *membranes, int n)
{
    (void)layer;
    if (record_file == NULL) {
        return;
    }
    std::fwrite(spikes, 1, (size_t)n, record_file);
    for (int i = 0; i < n; i++) {
        write_le(record_file, (unsigned long long)membranes[i], 4);
    }
}
#endif

static bool read_u32(FILE *f, unsigned long *value)
{
    unsigned char b[4];
    if (std::fread(b, 1, 4, f) != 4) {
        return false;
    }
    *value = (unsigned long)b[0] | ((unsigned long)b[1] << 8) | ((unsigned long)b[2] << 16) | ((unsigned long)b[3] << 24);
    return true;
}

int main(int argc, char **argv)
{
    unsigned long magic, n, steps, frame_size, per_sample, classes;
    if (argc != 3 && argc != 4) {
        std::fprintf(stderr, "usage: %s VECTORS OUTPUT [RECORD]\n", argv[0]);
        return 1;
    }
    FILE *in = std::fopen(argv[1], "rb");
    FILE *out = std::fopen(argv[2], "wb");
    if (in == NULL || out == NULL || (argc == 4 && (record_file = std::fopen(argv[3], "wb")) == NULL)) {
        std::fprintf(stderr, "cannot open the vector, output or record file\n");
        return 1;
    }
    if (!read_u32(in, &magic) || !read_u32(in, &n) || !read_u32(in, &steps) || !read_u32(in, &frame_size) ||
        !read_u32(in, &per_sample) || !read_u32(in, &classes)) {
        std::fprintf(stderr, "truncated header\n");
        return 1;
    }
    if (magic != 0x564e5351ul || frame_size != QSNN_INPUT_SIZE || classes != QSNN_NUM_CLASSES ||
        per_sample != (QSNN_STREAM ? steps : 1ul) || steps < 1 || steps > 65535ul) {
        std::fprintf(stderr, "vectors do not fit this model\n");
        return 2;
    }
    std::vector<unsigned char> frames(frame_size * per_sample);
    for (unsigned long i = 0; i < n; i++) {
        if (std::fread(frames.data(), frame_size, per_sample, in) != per_sample) {
            std::fprintf(stderr, "truncated vectors at sample %lu\n", i);
            return 1;
        }
        hls::stream<ap_uint<8> > frame_stream;
        hls::stream<qsnn_spikes_t> spike_stream;
        for (size_t b = 0; b < frames.size(); b++) {
            frame_stream.write(ap_uint<8>(frames[b]));
        }
        const int pred = qsnn_top(frame_stream, spike_stream, ap_uint<16>(steps));
        if (!frame_stream.empty() || spike_stream.size() != steps) {
            std::fprintf(stderr, "sample %lu: the top function left input beats or wrote %lu beats for %lu steps\n", i,
                         (unsigned long)spike_stream.size(), steps);
            return 3;
        }
        unsigned counts[QSNN_NUM_CLASSES] = {0};
        for (unsigned long t = 0; t < steps; t++) {
            const qsnn_spikes_t beat = spike_stream.read();
            for (int k = 0; k < QSNN_NUM_CLASSES; k++) {
                const int spike = beat[k] ? 1 : 0;
                counts[k] += (unsigned)spike;
                std::fputc(spike, out);
            }
        }
        for (int k = 0; k < QSNN_NUM_CLASSES; k++) {
            write_le(out, counts[k], 2);
        }
        if (!write_le(out, (unsigned long long)(long long)pred, 4)) {
            return 1;
        }
    }
    if (record_file != NULL && std::fclose(record_file) != 0) {
        return 1;
    }
    std::fclose(in);
    return std::fclose(out) == 0 ? 0 : 1;
}
