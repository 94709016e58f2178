// qsnn_cneuron.v - requantize, recurrent current, synaptic current and LIF update of one neuron per cycle
// (docs/ir/ops.md: requantize, recurrent, synaptic, lif), for the layers of qsnn_layer that have a recurrent
// input (REC) or a synaptic current (SYN); qsnn_neuron runs the others. The same 5-stage latency as
// qsnn_neuron, so qsnn_layer's neuron pipeline is the same for both:
//
//   stage 0  the inputs registered
//   stage 1  the multiplies, registered (DSP blocks): x*m, a*rm (recurrent), i*alpha (synaptic decay),
//            v'*beta (membrane decay, v' = 0 after a zero reset); r = v > threshold
//   stage 2  the rescales rounded half up: y = ((x*m + b) >>> SHIFT) + rec, d_i (synaptic decay), d (membrane
//            decay)
//   stage 3  i = saturate(d_i + y)
//   stage 4  u = d + i - r*threshold; v = saturate(u); the spike from the registered v
//
// Every value is computed in 64-bit signed arithmetic: the IR bounds every product and sum by 2^62 (the
// requantize's peak, a*rm < 2^51 + 2^61, v*beta and i*alpha < 2^63), so nothing wraps; the state registers
// hold STATE_W and SYN_W bits and the clamps to them are exact (the identity where the range analysis proves
// the value fits).
`default_nettype none

module qsnn_cneuron #(
    parameter integer ACC_W = 16,
    parameter integer MUL_W = 32,
    parameter integer BIAS_W = 32,
    parameter integer SHIFT = 0,
    parameter integer STATE_W = 32,
    parameter [31:0] THRESH = 32'd1,
    parameter [32:0] DECAY_MULT = 33'd1,
    parameter integer DECAY_SHIFT = 0,
    parameter integer RESET_ZERO = 0,
    // synaptic current: i = saturate(((i * SYN_MULT + 2^(SYN_SHIFT-1)) >>> SYN_SHIFT) + y) in SYN_W bits
    parameter integer SYN = 0,
    parameter integer SYN_W = 32,
    parameter [32:0] SYN_MULT = 33'd0,
    parameter integer SYN_SHIFT = 0,
    // recurrent current: y = x + ((a * rm + 2^(RSHIFT-1)) >>> RSHIFT)
    parameter integer REC = 0,
    parameter integer RACC_W = 16,
    parameter integer RMUL_W = 32,
    parameter integer RSHIFT = 0
) (
    input  wire                clk,
    input  wire [ACC_W-1:0]    acc,
    input  wire [MUL_W-1:0]    mult,
    input  wire [BIAS_W-1:0]   bias,
    input  wire [RACC_W-1:0]   rec_acc,   // the recurrent sum a (REC)
    input  wire [RMUL_W-1:0]   rec_mult,  // its multiplier (REC)
    input  wire [SYN_W-1:0]    i,         // the synaptic current left by the last step (SYN; 0 before step 0)
    input  wire [STATE_W-1:0]  v,
    output wire [SYN_W-1:0]    i_new,
    output wire [STATE_W-1:0]  v_new,
    output wire                spike
);
    localparam signed [63:0] TH = {32'd0, THRESH};
    localparam signed [63:0] BETA = {31'd0, DECAY_MULT};
    localparam signed [63:0] ALPHA = {31'd0, SYN_MULT};
    localparam signed [63:0] V_MAX = (64'sd1 <<< (STATE_W - 1)) - 64'sd1;
    localparam signed [63:0] V_MIN = -(64'sd1 <<< (STATE_W - 1));
    localparam signed [63:0] I_MAX = (64'sd1 <<< (SYN_W - 1)) - 64'sd1;
    localparam signed [63:0] I_MIN = -(64'sd1 <<< (SYN_W - 1));

    // (x + 2^(k-1)) >>> k, 0 added when k = 0: round half up
    function signed [63:0] round_shift(input signed [63:0] x, input integer k);
        begin
            round_shift = (k > 0) ? ((x + (64'sd1 <<< (k - 1))) >>> k) : x;
        end
    endfunction
    function signed [63:0] clamp(input signed [63:0] x, input signed [63:0] lo, input signed [63:0] hi);
        begin
            clamp = (x < lo) ? lo : (x > hi) ? hi : x;
        end
    endfunction

    // stage 0
    reg signed [BIAS_W-1:0]  n1_bias;
    reg signed [SYN_W-1:0]   n1_i;
    reg signed [STATE_W-1:0] n1_v;
    // stage 1
    wire signed [63:0] s1_v = {{(64 - STATE_W){n1_v[STATE_W-1]}}, n1_v};
    wire               s1_reset = s1_v > TH;
    wire signed [63:0] s1_vkept = (RESET_ZERO != 0 && s1_reset) ? 64'sd0 : s1_v;
    reg signed [63:0]  n2_b, n2_ip, n2_vp;
    // x*m and the recurrent a*m through qsnn_mul: its operand registers are stage 0's, its product register
    // stage 1's (inside the DSP block on ECP5, qsnn_mul.v)
    wire signed [ACC_W+MUL_W-1:0]   s2_p;
    wire signed [RACC_W+RMUL_W-1:0] s2_rp;
    qsnn_mul #(.A_W(ACC_W), .B_W(MUL_W)) u_p (.clk(clk), .a(acc), .b(mult), .p(s2_p));
    qsnn_mul #(.A_W(RACC_W), .B_W(RMUL_W)) u_rp (.clk(clk), .a(rec_acc), .b(rec_mult), .p(s2_rp));
    // the products at 64 bits: sign-extended (both are signed), or their low 64 bits, as the 64-bit product was
    /* verilator lint_off WIDTH */
    wire signed [63:0] n2_p = s2_p;
    wire signed [63:0] n2_rp = s2_rp;
    /* verilator lint_on WIDTH */
    reg                n2_reset;
    // stage 2: the rescales rounded half up, the feed-forward plus recurrent current
    reg signed [63:0]  n3_y, n3_di, n3_d;
    reg                n3_reset;
    wire signed [63:0] s2_x = round_shift(n2_p + n2_b, SHIFT);
    wire signed [63:0] s2_y = (REC != 0) ? s2_x + round_shift(n2_rp, RSHIFT) : s2_x;
    // stage 3: the synaptic current (the states keep their low SYN_W and STATE_W bits: the clamps made them fit)
    /* verilator lint_off UNUSED */
    reg signed [63:0]  n4_i;
    /* verilator lint_on UNUSED */
    reg signed [63:0]  n4_d;
    reg                n4_reset;
    wire signed [63:0] s3_i = (SYN != 0) ? clamp(n3_di + n3_y, I_MIN, I_MAX) : n3_y;
    // stage 4: the membrane
    /* verilator lint_off UNUSED */
    wire signed [63:0] s4_u = n4_d + n4_i - ((RESET_ZERO == 0 && n4_reset) ? TH : 64'sd0);
    wire signed [63:0] s4_v = clamp(s4_u, V_MIN, V_MAX);
    /* verilator lint_on UNUSED */
    reg [SYN_W-1:0]    n5_i;
    reg [STATE_W-1:0]  n5_v;
    wire signed [63:0] s1_i = {{(64 - SYN_W){n1_i[SYN_W-1]}}, n1_i};

    assign i_new = n5_i;
    assign v_new = n5_v;
    assign spike = $signed({{(64 - STATE_W){n5_v[STATE_W-1]}}, n5_v}) > TH;

    always @(posedge clk) begin
        n1_bias <= bias;
        n1_i <= i;
        n1_v <= v;
        n2_b <= $signed({{(64 - BIAS_W){n1_bias[BIAS_W-1]}}, n1_bias});
        n2_ip <= s1_i * ALPHA;
        n2_vp <= s1_vkept * BETA;
        n2_reset <= s1_reset;
        n3_y <= s2_y;
        n3_di <= round_shift(n2_ip, SYN_SHIFT);
        n3_d <= round_shift(n2_vp, DECAY_SHIFT);
        n3_reset <= n2_reset;
        n4_i <= s3_i;
        n4_d <= n3_d;
        n4_reset <= n3_reset;
        n5_i <= n4_i[SYN_W-1:0];
        n5_v <= s4_v[STATE_W-1:0];
    end
endmodule

`default_nettype wire
