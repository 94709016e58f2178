/* qsnn_top.cpp - the HLS top function of the generated model (qsnn-deploy, from sha256-d54839391dcf0ad7; do not edit).
 * The layer sequence of one inference; every computation is a kernel of qsnn_hls.h. */
#include "qsnn_top.h"
#include "qsnn_data.h"

int qsnn_top(hls::stream<ap_uint<8> > &frames, hls::stream<qsnn_spikes_t> &spikes_out, ap_uint<16> num_steps)
{
#pragma HLS INTERFACE mode = axis port = frames
#pragma HLS INTERFACE mode = axis port = spikes_out
#pragma HLS INTERFACE mode = s_axilite port = num_steps bundle = control
#pragma HLS INTERFACE mode = s_axilite port = return bundle = control
    ap_uint<8> frame[QSNN_INPUT_SIZE];
    int frame_events[QSNN_INPUT_SIZE]; /* nonzero bytes of the frame */
    int frame_count;
    qsnn_model::lif1_cfg::acc_t acc_lif1[36][4];
#pragma HLS ARRAY_PARTITION variable = acc_lif1 complete dim = 2
    qsnn_model::lif1_cfg::mem_t mem_lif1[144];
    ap_uint<1> spk_lif1[144];
    int ev_lif1[144]; /* neurons that fired this step */
    int count_lif1;
    qsnn_model::lif2_cfg::acc_t acc_lif2[1][4];
#pragma HLS ARRAY_PARTITION variable = acc_lif2 complete dim = 2
    qsnn_model::lif2_cfg::mem_t mem_lif2[4];
    ap_uint<1> spk_lif2[4];
    int ev_lif2[4]; /* neurons that fired this step */
    int count_lif2;
    qsnn_model::lif3_cfg::acc_t acc_lif3[1][3];
#pragma HLS ARRAY_PARTITION variable = acc_lif3 complete dim = 2
    qsnn_model::lif3_cfg::mem_t mem_lif3[3];
    ap_uint<1> spk_lif3[3];
    int ev_lif3[3]; /* neurons that fired this step */
    qsnn_model::lif1_cfg::cur_t cur_lif1[144]; /* computed once per inference */
    ap_uint<16> counts[QSNN_NUM_CLASSES];
#pragma HLS ARRAY_PARTITION variable = counts complete
reset_counts:
    for (int k = 0; k < QSNN_NUM_CLASSES; k++) {
#pragma HLS UNROLL
        counts[k] = 0;
    }
    qsnn_hls::reset_state<144>(mem_lif1);
    qsnn_hls::reset_state<4>(mem_lif2);
    qsnn_hls::reset_state<3>(mem_lif3);
    frame_count = qsnn_hls::read_frame<QSNN_INPUT_SIZE>(frames, frame, frame_events);
    qsnn_hls::conv_events<qsnn_model::lif1_cfg, ap_uint<8> >(frame, frame_events, frame_count, qsnn_model::conv1_w, acc_lif1);
    qsnn_hls::requantize_all<qsnn_model::lif1_cfg>(acc_lif1, qsnn_model::rq1_mult, qsnn_model::rq1_bias, cur_lif1);
steps:
    for (int t = 0; t < (int)num_steps; t++) {
#pragma HLS LOOP_TRIPCOUNT min = 1 max = 65535 avg = 20
        count_lif1 = qsnn_hls::lif_layer<qsnn_model::lif1_cfg>(cur_lif1, mem_lif1, spk_lif1, ev_lif1);
#if defined(QSNN_HLS_RECORD) && !defined(__SYNTHESIS__)
        qsnn_hls::record<144>(0, spk_lif1, mem_lif1);
#endif
        qsnn_hls::conv_events<qsnn_model::lif2_cfg, ap_uint<1> >(spk_lif1, ev_lif1, count_lif1, qsnn_model::conv2_w, acc_lif2);
        count_lif2 = qsnn_hls::requantize_lif<qsnn_model::lif2_cfg>(acc_lif2, qsnn_model::rq2_mult, qsnn_model::rq2_bias, mem_lif2, spk_lif2, ev_lif2);
#if defined(QSNN_HLS_RECORD) && !defined(__SYNTHESIS__)
        qsnn_hls::record<4>(1, spk_lif2, mem_lif2);
#endif
        qsnn_hls::linear_events<qsnn_model::lif3_cfg, ap_uint<1> >(spk_lif2, ev_lif2, count_lif2, qsnn_model::fc1_w, acc_lif3);
        qsnn_hls::requantize_lif<qsnn_model::lif3_cfg>(acc_lif3, qsnn_model::rq3_mult, qsnn_model::rq3_bias, mem_lif3, spk_lif3, ev_lif3);
#if defined(QSNN_HLS_RECORD) && !defined(__SYNTHESIS__)
        qsnn_hls::record<3>(2, spk_lif3, mem_lif3);
#endif
        qsnn_hls::write_spikes<QSNN_NUM_CLASSES>(spk_lif3, counts, spikes_out);
    }
    return qsnn_hls::argmax<QSNN_NUM_CLASSES>(counts);
}
