// qsnn_neuron.v - requantize and LIF update of one neuron per cycle (docs/ir/ops.md), a 4-stage pipeline:
// in: the accumulator, the channel's multiplier and bias, the membrane left by the last step (0 before step
// 0); out, four cycles later: the new membrane and the spike. qsnn_layer runs NLANES of these side by side.
//
//   stage 1  the requantize multiply x*m and the decay multiply v*mult (a zero reset discards it in stage 2)
//   stage 2  current = (x*m + b + 2^(SHIFT-1)) >>> SHIFT, d = (v'*mult + 2^(s-1)) >>> s (floor shifts)
//   stage 3  u = d + current - reset * threshold, exact in U_W bits
//   stage 4  saturate (only where the range analysis says the membrane can), fire on strictly greater
`default_nettype none

module qsnn_neuron #(
    parameter integer ACC_W = 16,
    parameter integer MUL_W = 32,
    parameter integer BIAS_W = 32,
    parameter integer PROD_W = 64,
    parameter integer SHIFT = 0,
    parameter integer CUR_W = 32,
    parameter integer STATE_W = 32,
    parameter [31:0] THRESH = 32'd1,
    parameter [32:0] DECAY_MULT = 33'd1,
    parameter integer DM_W = 1,
    parameter integer DECAY_SHIFT = 0,
    parameter integer RESET_ZERO = 0,
    parameter integer SATURATE = 0
) (
    input  wire                clk,
    input  wire [ACC_W-1:0]    acc,
    input  wire [MUL_W-1:0]    mult,
    input  wire [BIAS_W-1:0]   bias,
    input  wire [STATE_W-1:0]  v,
    output wire [STATE_W-1:0]  v_new,
    output wire                spike
);
    localparam integer U_W = ((STATE_W > CUR_W) ? STATE_W : CUR_W) + 2;
    localparam integer D_W = STATE_W + DM_W + 1;
    wire signed [STATE_W-1:0] th = THRESH[STATE_W-1:0];

    reg signed [ACC_W-1:0]    n2_acc;
    reg signed [MUL_W-1:0]    n2_mult;
    reg signed [BIAS_W-1:0]   n2_bias;
    reg signed [STATE_W-1:0]  n2_v;
    wire signed [PROD_W-1:0]  s2_prod = {{(PROD_W - ACC_W){n2_acc[ACC_W-1]}}, n2_acc}
                                        * {{(PROD_W - MUL_W){n2_mult[MUL_W-1]}}, n2_mult};
    wire signed [D_W-1:0]     s2_dprod = {{(D_W - STATE_W){n2_v[STATE_W-1]}}, n2_v}
                                         * {1'b0, {(D_W - DM_W - 1){1'b0}}, DECAY_MULT[DM_W-1:0]};
    reg signed [PROD_W-1:0]   n3_prod;
    reg signed [BIAS_W-1:0]   n3_bias;
    reg signed [D_W-1:0]      n3_dprod;
    reg                       n3_reset;
    localparam [PROD_W-1:0] RQ_ROUND = (SHIFT > 0) ? ({{(PROD_W - 1){1'b0}}, 1'b1} << (SHIFT - 1)) : {PROD_W{1'b0}};
    localparam [D_W-1:0] DECAY_ROUND = (DECAY_SHIFT > 0) ? ({{(D_W - 1){1'b0}}, 1'b1} << (DECAY_SHIFT - 1)) : {D_W{1'b0}};
    /* verilator lint_off UNUSED */
    wire signed [PROD_W-1:0]  s3_sum = n3_prod + {{(PROD_W - BIAS_W){n3_bias[BIAS_W-1]}}, n3_bias} + RQ_ROUND;
    wire signed [D_W-1:0]     s3_dsum = n3_dprod + DECAY_ROUND;
    /* verilator lint_on UNUSED */
    reg signed [CUR_W-1:0]    n4_cur;
    reg signed [STATE_W-1:0]  n4_d;
    reg                       n4_reset;
    wire signed [U_W-1:0]     th_u = {{(U_W - STATE_W){1'b0}}, THRESH[STATE_W-1:0]};
    wire signed [U_W-1:0]     s4_u = {{(U_W - STATE_W){n4_d[STATE_W-1]}}, n4_d}
                                     + {{(U_W - CUR_W){n4_cur[CUR_W-1]}}, n4_cur}
                                     - ((RESET_ZERO == 0 && n4_reset) ? th_u : {U_W{1'b0}});
    reg signed [U_W-1:0]      n5_u;
    localparam signed [U_W-1:0] SAT_HI = {{(U_W - STATE_W + 1){1'b0}}, {(STATE_W - 1){1'b1}}};
    localparam signed [U_W-1:0] SAT_LO = {{(U_W - STATE_W + 1){1'b1}}, {(STATE_W - 1){1'b0}}};
    /* verilator lint_off UNUSED */
    wire signed [U_W-1:0]     s5_sat = (SATURATE == 0) ? n5_u : (n5_u > SAT_HI) ? SAT_HI : (n5_u < SAT_LO) ? SAT_LO : n5_u;
    /* verilator lint_on UNUSED */
    assign v_new = s5_sat[STATE_W-1:0];
    assign spike = $signed(v_new) > th;

    always @(posedge clk) begin
        n2_acc <= acc;
        n2_mult <= mult;
        n2_bias <= bias;
        n2_v <= v;
        n3_prod <= s2_prod;
        n3_bias <= n2_bias;
        n3_dprod <= s2_dprod;
        n3_reset <= n2_v > th;
        n4_cur <= s3_sum[SHIFT +: CUR_W];  // fits CUR_W (range analysis)
        n4_d <= (RESET_ZERO != 0 && n3_reset) ? {STATE_W{1'b0}} : s3_dsum[DECAY_SHIFT +: STATE_W];  // |d| <= |v|
        n4_reset <= n3_reset;
        n5_u <= s4_u;
    end
endmodule

`default_nettype wire
