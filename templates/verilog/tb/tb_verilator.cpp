// tb_verilator.cpp - Verilator testbench of the qsnn-deploy Verilog target (hand-written; see
// docs/targets/verilog.md). Drives the generated <prefix>_top through its streaming interface with the
// frames of a vector file (qsnn_deploy/verify/vectors.py) and writes what the common verifier reads:
//
//   outputs  per sample: output spikes (steps x classes bytes), counts (classes x uint16 LE), class (int32 LE)
//   record   per sample, per step, per layer: n spike bytes then n int32 LE membranes, (C, H, W) order, then
//            n int32 LE synaptic currents in a layer that has them (TB_CURRENTS)
//
// The trace ports (tb_config.h's tb_trace: one per layer, or one shared) carry every neuron once per step; a
// layer's step is complete when all its n neurons have been seen, and is kept until the output beat of that
// step (a design that pipelines steps over its layers runs a layer's next step before that beat).
//   cycles   per sample: uint64 LE clock cycles from the first input beat to the last output beat
//
// A design that loads its weights (TB_LOAD_WORDS > 0) first takes them over the input stream (not counted in the
// cycles).
//
// usage: tb vectors.bin outputs.bin record.bin cycles.bin
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <vector>

#include "verilated.h"
#include "tb_config.h"

static const uint32_t MAGIC = 0x564E5351u; /* "QSNV" */
static const uint64_t MAX_CYCLES_PER_STEP = 50000000u;

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static void put(std::vector<unsigned char> &buf, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) buf.push_back((unsigned char)(v >> (8 * i)));
}

static int fail(const char *msg)
{
    std::fprintf(stderr, "tb: %s\n", msg);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc != 5) return fail("usage: tb vectors.bin outputs.bin record.bin cycles.bin");
    FILE *f = std::fopen(argv[1], "rb");
    if (!f) return fail("cannot open the vector file");
    std::vector<unsigned char> vec;
    unsigned char chunk[65536];
    size_t got;
    while ((got = std::fread(chunk, 1, sizeof chunk, f)) > 0) vec.insert(vec.end(), chunk, chunk + got);
    std::fclose(f);
    if (vec.size() < 24 || le32(&vec[0]) != MAGIC) return fail("not a vector file");
    const uint32_t samples = le32(&vec[4]), steps = le32(&vec[8]), frame = le32(&vec[12]);
    const uint32_t frames = le32(&vec[16]), classes = le32(&vec[20]);
    if (frame != TB_FRAME || classes != TB_CLASSES || steps == 0 || steps > 65535) return fail("vector file does not match the design");
    if (frames != (TB_STATIC ? 1u : steps)) return fail("frames per sample do not match the input encoding");
    if (vec.size() != 24 + (size_t)samples * frames * frame) return fail("truncated vector file");

    FILE *out = std::fopen(argv[2], "wb"), *rec = std::fopen(argv[3], "wb"), *cyc = std::fopen(argv[4], "wb");
    if (!out || !rec || !cyc) return fail("cannot write the output files");

    VerilatedContext ctx;
    tb_top_t top(&ctx);
    top.clk = 0;
    top.rst = 1;
    top.in_valid = 0;
    top.out_ready = 1;
    top.num_steps = (uint16_t)steps;
    for (int i = 0; i < 4; i++) {
        top.clk = 0;
        top.eval();
        top.clk = 1;
        top.eval();
    }
    top.rst = 0;
#if TB_LOAD_WORDS > 0
    /* the weights first, over the input stream: TB_LOAD_BYTES bytes per word, low byte first (the serial
       organisation: its SPRAM has no initial contents) */
    for (uint32_t b = 0; b < (uint32_t)TB_LOAD_BYTES * TB_LOAD_WORDS;) {
        top.clk = 0;
        top.in_valid = 1;
        top.in_data = (uint8_t)(tb_load[b / TB_LOAD_BYTES] >> (8 * (b % TB_LOAD_BYTES)));
        top.eval();
        const bool fire = top.in_ready;
        if (top.busy) return fail("the design is busy before its weights are loaded");
        top.clk = 1;
        top.eval();
        if (fire) b++;
    }
    top.clk = 0;
    top.in_valid = 0;
    top.eval();
#endif

    std::vector<std::vector<uint8_t> > spk(TB_NUM_LAYERS);
    std::vector<std::vector<int32_t> > mem(TB_NUM_LAYERS), cur(TB_NUM_LAYERS);
    std::vector<int> seen(TB_NUM_LAYERS, 0);                     /* neurons of the layer's step traced so far */
    std::vector<std::deque<std::vector<unsigned char> > > done(TB_NUM_LAYERS); /* its complete steps, recorded */
    for (int l = 0; l < TB_NUM_LAYERS; l++) {
        spk[l].assign(tb_neurons[l], 0);
        mem[l].assign(tb_neurons[l], 0);
        cur[l].assign(tb_neurons[l], 0);
    }
    tb_beat beats[TB_TRACE_PORTS];
    for (uint32_t s = 0; s < samples; s++) {
        const unsigned char *bytes = &vec[24 + (size_t)s * frames * frame];
        const size_t total = (size_t)frames * frame;
        size_t pos = 0;
        uint32_t step = 0;
        uint64_t cycles = 0, idle = 0;
        bool started = false;
        std::vector<unsigned char> outbuf, recbuf;
        std::vector<uint16_t> counts(TB_CLASSES, 0);
        int32_t pred = -1;
        while (pred < 0) {
            top.clk = 0;
            top.in_valid = pos < total;
            top.in_data = pos < total ? bytes[pos] : 0;
            top.eval();
            const bool in_fire = top.in_valid && top.in_ready;
            const bool out_fire = top.out_valid && top.out_ready;
            const int nb = tb_trace(top, beats);
            for (int q = 0; q < nb; q++) {
                const tb_beat &b = beats[q];
                const uint32_t l = b.layer;
                if (l >= TB_NUM_LAYERS) return fail("trace layer out of range");
                for (int j = 0; j < TB_LANES; j++) {
                    if (!((b.lanes >> j) & 1u)) continue;
                    const uint64_t i = b.index + (uint64_t)j * (uint64_t)tb_per_channel[l];
                    if (i >= (uint64_t)tb_neurons[l]) return fail("trace index out of range");
                    spk[l][i] = (uint8_t)((b.spikes >> j) & 1u);
                    mem[l][i] = (int32_t)b.membrane[j];
                    cur[l][i] = (int32_t)b.current[j];
                    if (++seen[l] < tb_neurons[l]) continue;
                    seen[l] = 0;  /* the layer's step is complete: record it */
                    std::vector<unsigned char> r(spk[l].begin(), spk[l].end());
                    for (int k = 0; k < tb_neurons[l]; k++) put(r, (uint32_t)mem[l][k], 4);
#ifdef TB_CURRENTS
                    if (tb_has_current[l])
                        for (int k = 0; k < tb_neurons[l]; k++) put(r, (uint32_t)cur[l][k], 4);
#endif
                    done[l].push_back(r);
                }
            }
            if (out_fire) {
                const uint64_t bits = (uint64_t)top.out_spikes;
                for (int k = 0; k < TB_CLASSES; k++) {
                    outbuf.push_back((unsigned char)((bits >> k) & 1u));
                    counts[k] = (uint16_t)(counts[k] + ((bits >> k) & 1u));
                }
                for (int l = 0; l < TB_NUM_LAYERS; l++) {
                    if (done[l].empty()) return fail("an output beat before every neuron of its step was traced");
                    recbuf.insert(recbuf.end(), done[l].front().begin(), done[l].front().end());
                    done[l].pop_front();
                }
                step++;
                if (top.out_last) {
                    if (step != steps) return fail("out_last before the last step");
                    pred = (int32_t)top.out_class;
                }
            }
            top.clk = 1;
            top.eval();
            if (in_fire) {
                pos++;
                started = true;
            }
            if (started) cycles++;
            if (++idle > MAX_CYCLES_PER_STEP * steps) return fail("the design stopped making progress");
        }
        if (pos != total) return fail("the design did not take every input byte");
        for (int k = 0; k < TB_CLASSES; k++) put(outbuf, counts[k], 2);
        put(outbuf, (uint32_t)pred, 4);
        std::fwrite(outbuf.data(), 1, outbuf.size(), out);
        std::fwrite(recbuf.data(), 1, recbuf.size(), rec);
        unsigned char c8[8];
        for (int i = 0; i < 8; i++) c8[i] = (unsigned char)(cycles >> (8 * i));
        std::fwrite(c8, 1, 8, cyc);
    }
    top.final();
    std::fclose(out);
    std::fclose(rec);
    std::fclose(cyc);
    return 0;
}
