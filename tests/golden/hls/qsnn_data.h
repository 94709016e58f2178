/* qsnn_data.h - layer configurations and weight ROMs of the generated HLS model (qsnn-deploy, from
 * sha256-d54839391dcf0ad7; do not edit). The kernels that read them are in qsnn_hls.h; docs/targets/hls.md. */
#ifndef QSNN_DATA_H
#define QSNN_DATA_H

#include "qsnn_hls.h"

/* In a namespace of their own, so no local name of the top function can hide them. */
namespace qsnn_model {

/* Layer 0: conv conv1 + sumpool 2 -> rq1 -> lif1 (144 neurons). */
struct lif1_cfg {
    static const int C = 1, H = 16, W = 16, O = 4;
    static const int KH = 5, KW = 5, STRIDE = 1, PAD = 0, POOL = 2, OH = 6, OW = 6, P = 36;
    static const int TAPS = 25, ROW_BYTES = 2;
    static const bool PACKED = true;
    typedef ap_int<18> acc_t;   /* partial sums: |x| <= 98940 */
    typedef ap_int<30> mult_t;  /* requantize multipliers */
    typedef ap_int<46> prod_t;  /* x * m + b + 2^(shift-1) */
    typedef ap_int<23> cur_t;   /* current: [-3688034, 1645481] */
    typedef ap_int<28> mem_t;   /* membrane: [-121257242, 121257242] */
    typedef ap_int<34> lif_t;   /* LIF update before saturation */
    static const int SHIFT = 23;
    static const long long ROUND = 4194304LL;
    static const long long THRESHOLD = 1048576, DECAY_MULT = 246, DECAY_HALF = 128LL;
    static const int DECAY_SHIFT = 8;
    static const bool RESET_ZERO = false, SATURATE = false;
    static const long long STATE_MIN = -2147483648LL, STATE_MAX = 2147483647LL;
};

/* ROM: 25 rows x 2 bytes, two 4-bit weights per byte (low nibble first). */
static const unsigned char conv1_w[25][2] = {
    { 0x12, 0xae },
    { 0x90, 0x7f },
    { 0x4d, 0x07 },
    { 0x3d, 0xe5 },
    { 0x59, 0x37 },
    { 0xba, 0x1e },
    { 0xa9, 0xc3 },
    { 0x5b, 0xd7 },
    { 0x95, 0x32 },
    { 0x12, 0x15 },
    { 0xa6, 0x03 },
    { 0xd0, 0xe3 },
    { 0x02, 0x4e },
    { 0xf7, 0xe6 },
    { 0xf3, 0xdb },
    { 0x92, 0x61 },
    { 0x91, 0xc3 },
    { 0xa1, 0xc5 },
    { 0x97, 0x30 },
    { 0x3d, 0x2e },
    { 0x05, 0x9d },
    { 0x23, 0xaf },
    { 0xc9, 0xe0 },
    { 0x2e, 0x53 },
    { 0x45, 0xf6 },
};
static const int rq1_mult[4] = { -242896821, 452201058, 183500145, -274680240 };
static const long long rq1_bias[4] = { 961103820347LL, -34054586079LL, -348287810450LL, 271890471964LL };

/* Layer 1: conv conv2 + sumpool 2 -> rq2 -> lif2 (4 neurons). */
struct lif2_cfg {
    static const int C = 4, H = 6, W = 6, O = 4;
    static const int KH = 5, KW = 5, STRIDE = 1, PAD = 0, POOL = 2, OH = 1, OW = 1, P = 1;
    static const int TAPS = 100, ROW_BYTES = 2;
    static const bool PACKED = true;
    typedef ap_int<12> acc_t;   /* partial sums: |x| <= 1644 */
    typedef ap_int<30> mult_t;  /* requantize multipliers */
    typedef ap_int<40> prod_t;  /* x * m + b + 2^(shift-1) */
    typedef ap_int<25> cur_t;   /* current: [-9801816, 9111127] */
    typedef ap_int<30> mem_t;   /* membrane: [-277770061, 277770061] */
    typedef ap_int<34> lif_t;   /* LIF update before saturation */
    static const int SHIFT = 15;
    static const long long ROUND = 16384LL;
    static const long long THRESHOLD = 1048576, DECAY_MULT = 246, DECAY_HALF = 128LL;
    static const int DECAY_SHIFT = 8;
    static const bool RESET_ZERO = false, SATURATE = false;
    static const long long STATE_MIN = -2147483648LL, STATE_MAX = 2147483647LL;
};

/* ROM: 100 rows x 2 bytes, two 4-bit weights per byte (low nibble first). */
static const unsigned char conv2_w[100][2] = {
    { 0x2f, 0xbe },
    { 0x07, 0x3f },
    { 0x9b, 0xef },
    { 0x67, 0x6d },
    { 0x3a, 0x90 },
    { 0xd2, 0x30 },
    { 0x91, 0x37 },
    { 0xa6, 0xd3 },
    { 0x4d, 0xa4 },
    { 0xb6, 0xd9 },
    { 0x03, 0xed },
    { 0x66, 0x77 },
    { 0x6b, 0x6d },
    { 0xd4, 0xc0 },
    { 0x97, 0x05 },
    { 0x09, 0x12 },
    { 0x5e, 0x66 },
    { 0x22, 0xbb },
    { 0xaa, 0x40 },
    { 0x20, 0x62 },
    { 0xe2, 0x6e },
    { 0xc4, 0xd1 },
    { 0xf6, 0xa7 },
    { 0x6f, 0x14 },
    { 0x7f, 0xad },
    { 0xb0, 0xa9 },
    { 0x17, 0xab },
    { 0x4b, 0xcd },
    { 0xc0, 0x66 },
    { 0xd9, 0x3d },
    { 0xcf, 0x25 },
    { 0xc7, 0x7d },
    { 0x62, 0x03 },
    { 0xce, 0x90 },
    { 0xc7, 0xb7 },
    { 0xa2, 0xc1 },
    { 0xa7, 0x36 },
    { 0x49, 0xe7 },
    { 0xdf, 0xd4 },
    { 0x55, 0xa2 },
    { 0x14, 0x35 },
    { 0x5f, 0x97 },
    { 0x10, 0xfc },
    { 0x4f, 0x41 },
    { 0x50, 0x0b },
    { 0x9c, 0x3a },
    { 0x14, 0x43 },
    { 0xfa, 0xc9 },
    { 0xdf, 0xa3 },
    { 0xfd, 0x95 },
    { 0xf4, 0x1b },
    { 0x04, 0xc3 },
    { 0x53, 0xbe },
    { 0x56, 0x46 },
    { 0x26, 0x56 },
    { 0x3b, 0x71 },
    { 0x7a, 0x01 },
    { 0x2a, 0x03 },
    { 0xe3, 0x71 },
    { 0xa7, 0x04 },
    { 0x16, 0xbb },
    { 0xc3, 0xc4 },
    { 0x17, 0x70 },
    { 0x96, 0x94 },
    { 0x59, 0x50 },
    { 0x7a, 0x2d },
    { 0xb5, 0x0a },
    { 0x5a, 0x50 },
    { 0xf7, 0x57 },
    { 0x95, 0xf9 },
    { 0x67, 0x21 },
    { 0x7e, 0x4f },
    { 0x9b, 0x29 },
    { 0x10, 0x01 },
    { 0x57, 0x64 },
    { 0x4e, 0x64 },
    { 0xf6, 0x97 },
    { 0x5e, 0x10 },
    { 0x55, 0x51 },
    { 0xac, 0xa7 },
    { 0x90, 0xed },
    { 0xad, 0x04 },
    { 0xec, 0xdb },
    { 0xa6, 0x3e },
    { 0xa5, 0x73 },
    { 0xcb, 0xe1 },
    { 0x26, 0x4b },
    { 0x07, 0xa2 },
    { 0xdc, 0x01 },
    { 0x7f, 0x96 },
    { 0x31, 0xf2 },
    { 0x22, 0x96 },
    { 0x7f, 0x67 },
    { 0x4b, 0x7a },
    { 0xa6, 0xaa },
    { 0x93, 0x50 },
    { 0x59, 0x30 },
    { 0xf5, 0xd1 },
    { 0x93, 0x44 },
    { 0x0b, 0x7d },
};
static const int rq2_mult[4] = { -245636672, 387337073, 216672918, 257591967 };
static const long long rq2_bias[4] = { -944111701LL, 1078537073LL, -1715920591LL, 3397358482LL };

/* Layer 2: linear fc1 -> rq3 -> lif3 (3 neurons). */
struct lif3_cfg {
    static const int C = 4, H = 1, W = 1, O = 3;
    static const int KH = 1, KW = 1, STRIDE = 1, PAD = 0, POOL = 1, OH = 1, OW = 1, P = 1;
    static const int TAPS = 4, ROW_BYTES = 2;
    static const bool PACKED = true;
    typedef ap_int<6> acc_t;   /* partial sums: |x| <= 26 */
    typedef ap_int<31> mult_t;  /* requantize multipliers */
    typedef ap_int<34> prod_t;  /* x * m + b + 2^(shift-1) */
    typedef ap_int<22> cur_t;   /* current: [-1833799, 1659906] */
    typedef ap_int<28> mem_t;   /* membrane: [-73788826, 73788826] */
    typedef ap_int<34> lif_t;   /* LIF update before saturation */
    static const int SHIFT = 12;
    static const long long ROUND = 2048LL;
    static const long long THRESHOLD = 1048576, DECAY_MULT = 246, DECAY_HALF = 128LL;
    static const int DECAY_SHIFT = 8;
    static const bool RESET_ZERO = false, SATURATE = false;
    static const long long STATE_MIN = -2147483648LL, STATE_MAX = 2147483647LL;
};

/* ROM: 4 rows x 2 bytes, two 4-bit weights per byte (low nibble first). */
static const unsigned char fc1_w[4][2] = {
    { 0xb1, 0x05 },
    { 0xed, 0x09 },
    { 0x35, 0x07 },
    { 0xdb, 0x09 },
};
static const int rq3_mult[3] = { -345065831, 552522920, 550392906 };
static const long long rq3_bias[3] = { 432457283LL, 570232214LL, 194258855LL };

} // namespace qsnn_model

#endif /* QSNN_DATA_H */
