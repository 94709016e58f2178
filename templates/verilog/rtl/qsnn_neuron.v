// qsnn_neuron.v - requantize and LIF update of one neuron per cycle (docs/ir/ops.md), a 5-stage pipeline:
// in: the accumulator, the channel's multiplier and bias, the membrane left by the last step (0 before step
// 0); out, five cycles later: the new membrane and the spike. qsnn_layer runs NLANES of these side by side.
//
//   stage 0  the inputs registered, then copied next to the DSP blocks (the multiplies' operand registers)
//   stage 1  the requantize multiply x*m, the decay multiply v*mult (DSP pieces, registered: qsnn_mul.v), the
//            reset flag r = v > threshold
//   stage 2  the pieces added; p = x*m + b; e = d - r*threshold with d = (v'*mult + 2^(s-1)) >>> s (a zero
//            reset zeroes v')
//   stage 3  u = e + current, current = (p + 2^(SHIFT-1)) >>> SHIFT, exact in U_W bits
//   stage 4  saturate (only where the range analysis says the membrane can), fire on strictly greater
//
// Rounding half up costs no adder: (p + 2^(k-1)) >>> k == (p >>> k) + p[k-1] (floor shifts, two's complement,
// negative p too), so bit k-1 enters the adder that follows as its carry in.
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
    localparam integer CF_W = CUR_W + 1;  // floor((x*m + b) / 2^SHIFT): the current or one less
    // x*m + b modulo 2^X_W: its bits up to the floored current (PROD_W is wider than ACC_W, MUL_W and BIAS_W)
    localparam integer X_W = (PROD_W > SHIFT + CF_W) ? PROD_W : SHIFT + CF_W;
    localparam integer U_W = ((STATE_W > CUR_W) ? STATE_W : CUR_W) + 2;
    localparam integer S_W = ((U_W > CF_W) ? U_W : CF_W) + 1;
    localparam integer D_W = STATE_W + DECAY_SHIFT + 1;
    // x > THRESH for a signed x (0 < THRESH < 2^(STATE_W-1)) as a chain of AND / OR gates on the bits of x:
    // the LUT mapper packs it into a few LUTs; a comparator takes a STATE_W-bit carry chain (twice the area)
    function above_th;
        input [STATE_W-1:0] x;
        integer i;
        reg gt;
        begin
            gt = 1'b0;
            for (i = 0; i < STATE_W - 1; i = i + 1)
                gt = THRESH[i] ? (x[i] & gt) : (x[i] | gt);
            above_th = !x[STATE_W-1] && gt;
        end
    endfunction
    localparam [U_W:0] NEG_TH = {(U_W + 1){1'b0}} - {{(U_W + 1 - STATE_W){1'b0}}, THRESH[STATE_W-1:0]};

    // Stage 0 registers the inputs; stage 1's copies of them feed the DSP blocks, so the placer can keep the
    // DSP inputs next to the DSP columns and the long routes to them get a cycle of their own. The copies that
    // feed a multiply are its qsnn_mul's operand registers (inside the DSP block where qsnn_mul.v says).
    reg signed [ACC_W-1:0]    n1_acc;
    reg signed [MUL_W-1:0]    n1_mult;
    reg signed [BIAS_W-1:0]   n1_bias;
    reg signed [STATE_W-1:0]  n1_v;
    reg signed [BIAS_W-1:0]   n2_bias;
    reg signed [STATE_W-1:0]  n2_v;
    // Stage 1 is the DSP blocks alone: a multiply wider than a DSP input is split at bit SPLIT of its wider
    // operand into two signed products at their exact widths, each registered as it leaves its DSP block
    // (a DSP's delay plus the routes to and from it fill most of a cycle on ECP5), and stage 2 adds the
    // pieces: exact integer products, so their sum is the full product.
    localparam integer SPLIT = 17;  // an 18-bit signed DSP input holds 17 unsigned bits
    localparam integer ML_W = (MUL_W > SPLIT + 1) ? SPLIT + 1 : MUL_W;  // the low piece of m, signed
    localparam integer MH_W = (MUL_W > SPLIT + 1) ? MUL_W - SPLIT : 1;
    localparam integer VL_W = (STATE_W > SPLIT + 1) ? SPLIT + 1 : STATE_W;
    localparam integer VH_W = (STATE_W > SPLIT + 1) ? STATE_W - SPLIT : 1;
    localparam integer DMS_W = DM_W + 1;  // the decay multiplier as a signed operand
    /* verilator lint_off UNUSED */
    wire signed [ACC_W+ML_W-1:0] n3_plo;  // x * m = phi * 2^SPLIT + plo (or plo alone)
    wire signed [ACC_W+MH_W-1:0] n3_phi;
    wire signed [VL_W+DMS_W-1:0] n3_dlo;  // v * mult = dhi * 2^SPLIT + dlo (or dlo alone)
    wire signed [VH_W+DMS_W-1:0] n3_dhi;
    /* verilator lint_on UNUSED */
    wire signed [DMS_W-1:0]      s1_dm = {1'b0, DECAY_MULT[DM_W-1:0]};
    generate
        if (MUL_W > SPLIT + 1) begin : g_msplit
            wire signed [ML_W-1:0] mlo = {1'b0, n1_mult[SPLIT-1:0]};
            wire signed [MH_W-1:0] mhi = n1_mult[MUL_W-1:SPLIT];
            qsnn_mul #(.A_W(ACC_W), .B_W(ML_W)) u_plo (.clk(clk), .a(n1_acc), .b(mlo), .p(n3_plo));
            qsnn_mul #(.A_W(ACC_W), .B_W(MH_W)) u_phi (.clk(clk), .a(n1_acc), .b(mhi), .p(n3_phi));
        end else begin : g_mone
            qsnn_mul #(.A_W(ACC_W), .B_W(MUL_W)) u_plo (.clk(clk), .a(n1_acc), .b(n1_mult), .p(n3_plo));
            assign n3_phi = {(ACC_W + MH_W){1'b0}};
        end
        if (STATE_W > SPLIT + 1) begin : g_vsplit
            wire signed [VL_W-1:0] vlo = {1'b0, n1_v[SPLIT-1:0]};
            wire signed [VH_W-1:0] vhi = n1_v[STATE_W-1:SPLIT];
            qsnn_mul #(.A_W(VL_W), .B_W(DMS_W)) u_dlo (.clk(clk), .a(vlo), .b(s1_dm), .p(n3_dlo));
            qsnn_mul #(.A_W(VH_W), .B_W(DMS_W)) u_dhi (.clk(clk), .a(vhi), .b(s1_dm), .p(n3_dhi));
        end else begin : g_vone
            qsnn_mul #(.A_W(STATE_W), .B_W(DMS_W)) u_dlo (.clk(clk), .a(n1_v), .b(s1_dm), .p(n3_dlo));
            assign n3_dhi = {(VH_W + DMS_W){1'b0}};
        end
    endgenerate
    localparam integer PSH = (MUL_W > SPLIT + 1) ? SPLIT : 0;
    localparam integer DSH = (STATE_W > SPLIT + 1) ? SPLIT : 0;
    // the pieces summed at the full product width (or X_W / D_W if wider), then taken modulo 2^X_W (2^D_W):
    // exact, since x*m fits X_W and v*mult D_W
    localparam integer MX_W = (ACC_W + MUL_W + 1 > X_W) ? ACC_W + MUL_W + 1 : X_W;
    localparam integer MD_W = (STATE_W + DMS_W + 1 > D_W) ? STATE_W + DMS_W + 1 : D_W;
    // The low PSH (DSH) bits of a split product are the low piece's own: only the bits above them are added (a
    // carry chain PSH bits shorter per multiply).
    /* verilator lint_off UNUSED */
    wire signed [MX_W-1:0]    s3_plo_x = {{(MX_W - ACC_W - ML_W){n3_plo[ACC_W+ML_W-1]}}, n3_plo};
    wire signed [MD_W-1:0]    s3_dlo_x = {{(MD_W - VL_W - DMS_W){n3_dlo[VL_W+DMS_W-1]}}, n3_dlo};
    wire signed [MX_W-1:0]    s3_pfull;
    wire signed [MD_W-1:0]    s3_dfull;
    /* verilator lint_on UNUSED */
    generate
        if (PSH > 0) begin : g_padd
            wire [MX_W-PSH-1:0] hi = {{(MX_W - PSH - ACC_W - MH_W){n3_phi[ACC_W+MH_W-1]}}, n3_phi}
                                     + s3_plo_x[MX_W-1:PSH];
            assign s3_pfull = {hi, s3_plo_x[PSH-1:0]};
        end else begin : g_pone
            assign s3_pfull = s3_plo_x;
        end
        if (DSH > 0) begin : g_dadd
            wire [MD_W-DSH-1:0] hi = {{(MD_W - DSH - VH_W - DMS_W){n3_dhi[VH_W+DMS_W-1]}}, n3_dhi}
                                     + s3_dlo_x[MD_W-1:DSH];
            assign s3_dfull = {hi, s3_dlo_x[DSH-1:0]};
        end else begin : g_done
            assign s3_dfull = s3_dlo_x;
        end
    endgenerate
    wire signed [X_W-1:0]     n3_prod = s3_pfull[X_W-1:0];
    wire [D_W:0]              s3_dprod0 = {s3_dfull[D_W-1:0], 1'b0};  // bit k: the rounding bit of >>> k (0 if k = 0)
    wire signed [STATE_W-1:0] n3_df = s3_dprod0[DECAY_SHIFT + 1 +: STATE_W];
    wire                      n3_dr = s3_dprod0[DECAY_SHIFT];
    reg signed [BIAS_W-1:0]   n3_bias;
    reg                       n3_reset;
    /* verilator lint_off UNUSED */
    wire signed [X_W-1:0]     s3_x = n3_prod + {{(X_W - BIAS_W){n3_bias[BIAS_W-1]}}, n3_bias};
    /* verilator lint_on UNUSED */
    wire [X_W:0]              s3_x0 = {s3_x, 1'b0};
    // e = d - r*threshold (subtract reset) or d (zero reset: a reset membrane decays to 0), d's rounding bit
    // as the carry in
    wire                      s3_keep = RESET_ZERO == 0 || !n3_reset;
    wire [U_W:0]              s3_k = (RESET_ZERO == 0 && n3_reset) ? NEG_TH : {(U_W + 1){1'b0}};
    /* verilator lint_off UNUSED */
    wire [U_W:0]              s3_e = {{(U_W + 1 - STATE_W){n3_df[STATE_W-1] && s3_keep}},
                                      n3_df & {STATE_W{s3_keep}}} + s3_k + {{U_W{1'b0}}, n3_dr && s3_keep};
    /* verilator lint_on UNUSED */
    reg signed [CF_W-1:0]     n4_cf;
    reg                       n4_cr;
    reg signed [U_W-1:0]      n4_e;
    /* verilator lint_off UNUSED */
    wire [S_W-1:0]            s4_u = {{(S_W - U_W){n4_e[U_W-1]}}, n4_e}
                                     + {{(S_W - CF_W){n4_cf[CF_W-1]}}, n4_cf} + {{(S_W - 1){1'b0}}, n4_cr};
    /* verilator lint_on UNUSED */
    reg signed [U_W-1:0]      n5_u;
    wire [U_W-STATE_W:0]      n5_top = n5_u[U_W-1:STATE_W-1];
    wire                      n5_ovf = SATURATE != 0 && !(&n5_top || !(|n5_top));  // u beyond STATE_W bits
    assign v_new = n5_ovf ? {n5_u[U_W-1], {(STATE_W - 1){~n5_u[U_W-1]}}} : n5_u[STATE_W-1:0];
    assign spike = above_th(v_new);

    always @(posedge clk) begin
        n1_acc <= acc;
        n1_mult <= mult;
        n1_bias <= bias;
        n1_v <= v;
        n2_bias <= n1_bias;
        n2_v <= n1_v;
        n3_bias <= n2_bias;
        n3_reset <= above_th(n2_v);
        n4_cf <= s3_x0[SHIFT + 1 +: CF_W];
        n4_cr <= s3_x0[SHIFT];
        n4_e <= s3_e[U_W-1:0];
        n5_u <= s4_u[U_W-1:0];
    end
endmodule

`default_nettype wire
