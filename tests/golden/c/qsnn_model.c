/* qsnn_model.c - configuration and call sequence of the generated model (qsnn-deploy, from sha256-d54839391dcf0ad7;
 * do not edit). All arithmetic is in qsnn_runtime.c. */
#include "qsnn_model.h"
#include "qsnn_runtime.h"
#include "qsnn_data.h"

#ifdef QSNN_PROFILE
/* Phase markers for counting instructions per layer (firmware/qemu-plugin/phase_count.c): entering marker k
 * switches the counter to phase k. Phase 3*i+1 is stage i's synapse op, 3*i+2 its requantize, 3*i+3 its LIF,
 * 10 the rest of the step. Distinct bodies, so that no two markers are merged. */
volatile int32_t qsnn_profile_phase;
__attribute__((noinline, used)) static void qsnn_phase_1(void) { qsnn_profile_phase = 1; }
__attribute__((noinline, used)) static void qsnn_phase_2(void) { qsnn_profile_phase = 2; }
__attribute__((noinline, used)) static void qsnn_phase_3(void) { qsnn_profile_phase = 3; }
__attribute__((noinline, used)) static void qsnn_phase_4(void) { qsnn_profile_phase = 4; }
__attribute__((noinline, used)) static void qsnn_phase_5(void) { qsnn_profile_phase = 5; }
__attribute__((noinline, used)) static void qsnn_phase_6(void) { qsnn_profile_phase = 6; }
__attribute__((noinline, used)) static void qsnn_phase_7(void) { qsnn_profile_phase = 7; }
__attribute__((noinline, used)) static void qsnn_phase_8(void) { qsnn_profile_phase = 8; }
__attribute__((noinline, used)) static void qsnn_phase_9(void) { qsnn_profile_phase = 9; }
__attribute__((noinline, used)) static void qsnn_phase_10(void) { qsnn_profile_phase = 10; }
#define QSNN_PHASE(k) qsnn_phase_##k()
#else
#define QSNN_PHASE(k) ((void)0)
#endif

static const qsnn_conv_t qsnn_conv1_cfg = {
    qsnn_conv1_w, 1,
    1, 16, 16, /* in_c, in_h, in_w */
    4, 5, 5, 1, 0, /* out_c, kh, kw, stride, pad */
    12, 12, /* conv_h, conv_w */
    2, 6, 6, /* pool, out_h, out_w */
    NULL /* words */
};
static const qsnn_requant_t qsnn_rq1_cfg = {
    qsnn_rq1_mult, qsnn_rq1_bias, QSNN_RQ1_SHIFT, 4, 36
};
static const qsnn_lif_t qsnn_lif1_cfg = {
    QSNN_LIF1_THRESHOLD, QSNN_LIF1_DECAY_MULT, QSNN_LIF1_DECAY_SHIFT,
    QSNN_LIF1_RESET_ZERO, 144, 4
};

static const qsnn_conv_t qsnn_conv2_cfg = {
    qsnn_conv2_w, 1,
    4, 6, 6, /* in_c, in_h, in_w */
    4, 5, 5, 1, 0, /* out_c, kh, kw, stride, pad */
    2, 2, /* conv_h, conv_w */
    2, 1, 1, /* pool, out_h, out_w */
    NULL /* words */
};
static const qsnn_requant_t qsnn_rq2_cfg = {
    qsnn_rq2_mult, qsnn_rq2_bias, QSNN_RQ2_SHIFT, 4, 1
};
static const qsnn_lif_t qsnn_lif2_cfg = {
    QSNN_LIF2_THRESHOLD, QSNN_LIF2_DECAY_MULT, QSNN_LIF2_DECAY_SHIFT,
    QSNN_LIF2_RESET_ZERO, 4, 4
};

static const qsnn_linear_t qsnn_fc1_cfg = { qsnn_fc1_w, 1, 4, 3 };
static const qsnn_requant_t qsnn_rq3_cfg = {
    qsnn_rq3_mult, qsnn_rq3_bias, QSNN_RQ3_SHIFT, 3, 1
};
static const qsnn_lif_t qsnn_lif3_cfg = {
    QSNN_LIF3_THRESHOLD, QSNN_LIF3_DECAY_MULT, QSNN_LIF3_DECAY_SHIFT,
    QSNN_LIF3_RESET_ZERO, 3, 3
};

void qsnn_reset(qsnn_state_t *s)
{
    qsnn_zero(s, sizeof(*s));
}

void qsnn_set_static_input(qsnn_state_t *s, const uint8_t *frame)
{
    QSNN_PHASE(1);
    QSNN_CONV_U8(&qsnn_conv1_cfg, frame, s->cur_static);
    QSNN_PHASE(2);
    qsnn_requant(&qsnn_rq1_cfg, s->cur_static);
    QSNN_PHASE(10);
}

void qsnn_step(qsnn_state_t *s, const uint8_t *frame, uint8_t *out_spikes)
{
    (void)frame; /* the static current was computed by qsnn_set_static_input */
    QSNN_PHASE(3);
#ifdef QSNN_GENERIC_KERNELS
    s->layer_spikes[0] += (uint32_t)qsnn_lif_step32(&qsnn_lif1_cfg, s->mem_lif1, s->cur_static, s->spk_lif1);
#else
    s->layer_spikes[0] += (uint32_t)qsnn_lif_fast(&qsnn_lif1_cfg, s->mem_lif1, 32, s->cur_static, s->spk_lif1);
#endif
    QSNN_RECORD_HOOK(0, s->spk_lif1, s->mem_lif1, 144);
    QSNN_PHASE(4);
    QSNN_CONV_SPIKES(&qsnn_conv2_cfg, s->spk_lif1, s->acc);
    QSNN_PHASE(5);
    qsnn_requant(&qsnn_rq2_cfg, s->acc);
    QSNN_PHASE(6);
#ifdef QSNN_GENERIC_KERNELS
    s->layer_spikes[1] += (uint32_t)qsnn_lif_step32(&qsnn_lif2_cfg, s->mem_lif2, s->acc, s->spk_lif2);
#else
    s->layer_spikes[1] += (uint32_t)qsnn_lif_fast(&qsnn_lif2_cfg, s->mem_lif2, 32, s->acc, s->spk_lif2);
#endif
    QSNN_RECORD_HOOK(1, s->spk_lif2, s->mem_lif2, 4);
    QSNN_PHASE(7);
    QSNN_LINEAR_SPIKES(&qsnn_fc1_cfg, s->spk_lif2, s->acc);
    QSNN_PHASE(8);
    qsnn_requant(&qsnn_rq3_cfg, s->acc);
    QSNN_PHASE(9);
#ifdef QSNN_GENERIC_KERNELS
    s->layer_spikes[2] += (uint32_t)qsnn_lif_step32(&qsnn_lif3_cfg, s->mem_lif3, s->acc, s->spk_lif3);
#else
    s->layer_spikes[2] += (uint32_t)qsnn_lif_fast(&qsnn_lif3_cfg, s->mem_lif3, 32, s->acc, s->spk_lif3);
#endif
    QSNN_RECORD_HOOK(2, s->spk_lif3, s->mem_lif3, 3);
    QSNN_PHASE(10);
    qsnn_count_output(s->spk_lif3, QSNN_NUM_CLASSES, s->counts, out_spikes);
}

int qsnn_run(qsnn_state_t *s, const uint8_t *input, int num_steps, uint16_t *counts)
{
    int t;
    qsnn_reset(s);
    qsnn_set_static_input(s, input);
    for (t = 0; t < num_steps; t++) {
        qsnn_step(s, NULL, NULL);
    }
    if (counts != NULL) {
        qsnn_copy_u16(counts, s->counts, QSNN_NUM_CLASSES);
    }
    return qsnn_argmax_u16(s->counts, QSNN_NUM_CLASSES);
}
