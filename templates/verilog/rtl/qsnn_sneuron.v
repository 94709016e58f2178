// qsnn_sneuron.v - the one neuron unit of the serial engine (qsnn_serial.v): requantize and LIF update of one
// neuron per cycle (docs/ir/ops.md), like qsnn_neuron.v, but every layer's constants (threshold, decay
// multiplier, shifts, reset mode, saturation bound) are inputs, since one unit serves every layer in turn.
// LATENCY = 5: the new membrane and the spike of the neuron presented at cycle t come out at cycle t + 5.
//
//   stage 0  (the inputs, combinational) the reset flag r = v > thresh; a zero reset zeroes v (v' = 0)
//   stage 1  the inputs registered (the DSP blocks' input registers where Yosys can pack them)
//   stage 2  x*m (Yosys's DSP pieces) and the low half of v'*dm (a DSP), registered; the bias a cycle later
//   stage 3  p = x*m + b cut to the bits a layer's shift can read; v'*dm (the high half's DSP product plus
//            the low half's upper bits); k = -thresh for a subtract reset with r, else 0
//   stage 4  the runtime shifts (small barrel shifters) give floor(p / 2^s), floor(v'*dm / 2^ds) and their
//            round bits; e = d + k
//   stage 5  u = e + current; out: v_new = u, clamped where the layer saturates; spike = v_new > thresh
//
// Timing contract for the engine: all inputs of a neuron are presented in one cycle, t. The per-layer inputs
// are read at t (reset flag) and registered once, at stage 1, where every later stage reads them: they must
// hold the layer's values from the cycle its first neuron is presented through LATENCY - 1 cycles after its
// last one; the next layer's first neuron may come LATENCY cycles after that last one, with its own values
// (the pipeline drains between layers, as it must anyway: a layer's input is the previous layer's spikes).
//
// Shifts: s = SH_MIN + shift_rel. (p + 2^(s-1)) >> s == floor(p / 2^s) + p[s-1] (floor shifts, two's
// complement, negative p too): p is cut statically at bit SH_MIN - 1, then a barrel shifter of shift_rel
// picks the CUR_W + 1 bits of floor(p / 2^s) and the round bit p[s-1], which enters the next adder as a
// carry in (a 0 for s = 0): {a, 1} + {b, c} = 2 (a + b + c) + 1. The decay shift likewise. x > thresh is
// the carry out of x + ~thresh (no LUT per bit); gates sit in sync-reset registers (free on iCE40), not
// before adders. The saturation bound smax is 2^(b-1) - 1: u fits b bits iff its bits at and above b - 1
// (where smax is 0) all equal its sign, a mask instead of two comparators.
`default_nettype none

module qsnn_sneuron #(
    parameter integer ACC_W = 16,     // accumulator (signed), the widest layer's
    parameter integer MUL_W = 32,     // requantize multiplier (signed)
    parameter integer BIAS_W = 32,    // requantize bias (signed)
    parameter integer PROD_W = 48,    // bits that hold x*m + b + 2^(s-1) of every layer (signed)
    parameter integer CUR_W = 32,     // bits that hold every layer's current (signed)
    parameter integer STATE_W = 32,   // membrane register (signed); narrower states are sign-extended
    parameter integer DM_W = 16,      // decay multiplier bits (unsigned, 0 <= m <= 2^DM_W - 1)
    parameter integer SH_MIN = 0,     // requantize shift = SH_MIN + shift_rel
    parameter integer SH_LV = 0,      // bits of shift_rel (0: the shift is SH_MIN for every layer)
    parameter integer DSH_MIN = 0,    // decay shift = DSH_MIN + dshift_rel
    parameter integer DSH_LV = 0,
    parameter integer SATURATE = 0    // 1: some layer can saturate: build the clamp
) (
    input  wire                                 clk,
    input  wire [ACC_W-1:0]                     acc,         // per neuron
    input  wire [MUL_W-1:0]                     mult,        // per neuron (its channel's)
    input  wire [BIAS_W-1:0]                    bias,        // per neuron
    input  wire [STATE_W-1:0]                   v,           // the membrane left by the last step
    input  wire [STATE_W-1:0]                   thresh,      // per layer: 0 < thresh < 2^(STATE_W-1)
    input  wire [DM_W-1:0]                      dmult,       // per layer
    input  wire [((SH_LV > 0) ? SH_LV : 1)-1:0]   shift_rel,   // per layer (ignored if SH_LV = 0)
    input  wire [((DSH_LV > 0) ? DSH_LV : 1)-1:0] dshift_rel,  // per layer (ignored if DSH_LV = 0)
    input  wire                                 reset_zero,  // per layer: 1 = zero reset, 0 = subtract
    input  wire                                 sat_en,      // per layer: clamp to [-smax-1, smax]
    input  wire [STATE_W-1:0]                   smax,        // per layer: 2^(b-1)-1, b <= STATE_W
    output wire [STATE_W-1:0]                   v_new,
    output wire                                 spike
);
    localparam integer SHR_W = (SH_LV > 0) ? SH_LV : 1;
    localparam integer DSHR_W = (DSH_LV > 0) ? DSH_LV : 1;
    localparam integer SH_SPAN = (SH_LV > 0) ? (1 << SH_LV) - 1 : 0;  // the largest shift_rel
    localparam integer DSH_SPAN = (DSH_LV > 0) ? (1 << DSH_LV) - 1 : 0;
    localparam integer CF_W = CUR_W + 1;  // floor(p / 2^s): the current or one less
    // {p, 0} from bit SH_MIN on: every bit a shift reads, the round bit at the bottom
    localparam integer Q_W = CF_W + 1 + SH_SPAN;
    localparam integer M_W = ACC_W + MUL_W;  // x*m, exact
    // p modulo 2^X_W (exact: p fits PROD_W bits) with the bits the widest shift reads
    localparam integer X_W = (PROD_W > SH_MIN + Q_W) ? PROD_W : SH_MIN + Q_W;
    localparam integer XA_W = ((X_W > M_W) ? X_W : M_W) > BIAS_W ? ((X_W > M_W) ? X_W : M_W) : BIAS_W;
    // v*dm, exact (dm as a signed operand of DM_W + 1 bits), and {d, 0} from bit DSH_MIN on
    localparam integer DF_W = STATE_W + DM_W + 1;
    localparam integer DQ_W = STATE_W + 1 + DSH_SPAN;
    localparam integer DX_W = (DF_W > DSH_MIN + DQ_W) ? DF_W : DSH_MIN + DQ_W;
    localparam integer U_W = ((STATE_W > CUR_W) ? STATE_W : CUR_W) + 2;  // u, exact

    // x > thresh for a signed x, from ~thresh (0 < thresh < 2^(STATE_W-1)): for n-bit unsigned a and t,
    // a > t iff a + ~t >= 2^n, the carry out of a + ~t (an adder's carry chain, no LUT per bit)
    /* verilator lint_off UNUSED */
    function above_th;
        input [STATE_W-1:0] x;
        input [STATE_W-1:0] th_n;  // its sign bit is 1
        reg [STATE_W-1:0] sum;
        begin
            sum = {1'b0, x[STATE_W-2:0]} + {1'b0, th_n[STATE_W-2:0]};
            above_th = !x[STATE_W-1] && sum[STATE_W-1];
        end
    endfunction
    /* verilator lint_on UNUSED */

    // stage 0 (the inputs): the reset flag r = v > thresh; a zero reset zeroes v before the decay multiply
    wire [STATE_W-1:0]       s0_thn = ~thresh;
    wire                     s0_r = above_th(v, s0_thn);

    // stage 1: everything registered; the per-layer inputs only here (stable for a layer)
    reg signed [ACC_W-1:0]   n1_acc;
    reg signed [MUL_W-1:0]   n1_mult;
    reg signed [BIAS_W-1:0]  n1_bias;
    reg signed [STATE_W-1:0] n1_v;   // v', the membrane the decay multiplies
    reg                      n1_r;
    reg [STATE_W-1:0]        l_thn;  // ~thresh
    reg [DM_W-1:0]           l_dm;
    reg [SHR_W-1:0]          l_shr;
    reg [DSHR_W-1:0]         l_dshr;
    reg                      l_zero;
    reg                      l_sat;
    reg [STATE_W-1:0]        l_smax;

    // stage 2: the products, registered as they leave the DSP blocks
    reg signed [M_W-1:0]     n2_xm;
    reg signed [BIAS_W-1:0]  n2_bias;
    reg                      n2_r;

    // stage 3: p = x*m + b; v'*dm (below); k = -thresh for a subtract reset, else 0
    /* verilator lint_off UNUSED */
    wire signed [XA_W-1:0]   s2_p = {{(XA_W - M_W){n2_xm[M_W-1]}}, n2_xm}
                                    + {{(XA_W - BIAS_W){n2_bias[BIAS_W-1]}}, n2_bias};
    wire [X_W:0]             s2_p0 = {s2_p[X_W-1:0], 1'b0};  // bit k: the round bit of >> k (0 if k = 0)
    /* verilator lint_on UNUSED */
    reg [Q_W-1:0]            n3_q;
    reg [STATE_W:0]          n3_k;  // -thresh = ~thresh + 1 (a sync-reset register: no gate per bit)
    wire signed [DF_W-1:0]   n3_vd;

    // v'*dm: a state of 17 to 32 bits is split at bit 16: vl*dm (one DSP, unsigned, registered inside it)
    // then vh*dm + (vl*dm >> 16) (|vh*dm| + 2^16 < 2^31: exact in 32 bits); the 16 low bits of vl*dm wait a
    // cycle (Yosys drops those no shift reads). Yosys keeps that add in the fabric (vh*dm mixes signs, so it
    // is not a plain DSP product it could fuse with the add), but the split saves the fabric copy of the
    // whole product that registering it twice costs. Otherwise one product, registered twice.
    generate
        if (STATE_W > 16 && STATE_W <= 32 && DM_W <= 16) begin : g_dsplit
            reg [31:0]                n2_dlo;
            reg signed [STATE_W-17:0] n2_vh;
            reg signed [31:0]         n3_dhi;
            reg [15:0]                n3_dlo;
            wire [15:0]               n1_vl = n1_v[15:0];
            always @(posedge clk) begin
                n2_dlo <= n1_vl * l_dm;
                n2_vh <= n1_v[STATE_W-1:16];
                n3_dhi <= n2_vh * $signed({1'b0, l_dm}) + $signed({16'd0, n2_dlo[31:16]});
                n3_dlo <= n2_dlo[15:0];
            end
            /* verilator lint_off UNUSED */
            wire [63:0] n3_wide = {{16{n3_dhi[31]}}, n3_dhi, n3_dlo};
            /* verilator lint_on UNUSED */
            assign n3_vd = n3_wide[DF_W-1:0];
        end else begin : g_dplain
            reg signed [DF_W-1:0] n2_vd;
            reg signed [DF_W-1:0] n3_vd_r;
            always @(posedge clk) begin
                n2_vd <= n1_v * $signed({1'b0, l_dm});
                n3_vd_r <= n2_vd;
            end
            assign n3_vd = n3_vd_r;
        end
    endgenerate
    /* verilator lint_off UNUSED */
    wire [DX_W:0]            n3_d0 = {{(DX_W - DF_W){n3_vd[DF_W-1]}}, n3_vd, 1'b0};
    /* verilator lint_on UNUSED */

    // stage 4: the runtime shifts give {floor(p / 2^s), round bit} and {floor(v'*dm / 2^ds), round bit};
    // e = d + round bit + k, as {a, 1} + {b, c} = 2 (a + b + c) + 1: one adder, c as its carry in
    /* verilator lint_off UNUSED */
    wire [Q_W-1:0]           s3_q = (SH_LV > 0) ? n3_q >> l_shr : n3_q;
    wire [DQ_W-1:0]          s3_dq = (DSH_LV > 0) ? n3_d0[DSH_MIN +: DQ_W] >> l_dshr : n3_d0[DSH_MIN +: DQ_W];
    wire [U_W:0]             s3_e1 = {{(U_W - STATE_W){s3_dq[STATE_W]}}, s3_dq[STATE_W:0]}
                                     + {{(U_W - STATE_W - 1){n3_k[STATE_W]}}, n3_k, 1'b1};
    /* verilator lint_on UNUSED */
    reg [CF_W:0]             n4_q;  // {floor(p / 2^s), round bit}
    reg [U_W-1:0]            n4_e;

    // stage 5: u = e + current = (2e + 1 + {floor(p / 2^s), round bit}) >> 1, then clamp and fire
    /* verilator lint_off UNUSED */
    wire [U_W:0]             s4_u1 = {n4_e, 1'b1} + {{(U_W - CF_W){n4_q[CF_W]}}, n4_q};
    /* verilator lint_on UNUSED */
    reg [U_W-1:0]            n5_u;
    wire                     n5_neg = n5_u[U_W-1];
    // smax = 2^(b-1) - 1: its zeros (and every bit above STATE_W) mark the bits that must equal u's sign
    wire [U_W-1:0]           n5_outside = ~{{(U_W - STATE_W){1'b0}}, l_smax};
    wire                     n5_ovf = SATURATE != 0 && l_sat && |((n5_u ^ {U_W{n5_neg}}) & n5_outside);
    /* verilator lint_off UNUSED */
    wire [U_W-1:0]           n5_clamped = n5_neg ? ~{{(U_W - STATE_W){1'b0}}, l_smax}
                                                 : {{(U_W - STATE_W){1'b0}}, l_smax};
    /* verilator lint_on UNUSED */
    assign v_new = n5_ovf ? n5_clamped[STATE_W-1:0] : n5_u[STATE_W-1:0];
    assign spike = above_th(v_new, l_thn);

    always @(posedge clk) begin
        n1_acc <= acc;
        n1_mult <= mult;
        n1_bias <= bias;
        n1_v <= (reset_zero && s0_r) ? {STATE_W{1'b0}} : v;
        n1_r <= s0_r;
        l_thn <= s0_thn;
        l_dm <= dmult;
        l_shr <= shift_rel;
        l_dshr <= dshift_rel;
        l_zero <= reset_zero;
        l_sat <= sat_en;
        l_smax <= smax;

        n2_xm <= n1_acc * n1_mult;
        n2_bias <= n1_bias;
        n2_r <= n1_r;

        n3_q <= s2_p0[SH_MIN +: Q_W];
        n3_k <= (!l_zero && n2_r) ? {1'b1, l_thn} + {{STATE_W{1'b0}}, 1'b1} : {(STATE_W + 1){1'b0}};

        n4_q <= s3_q[CF_W:0];
        n4_e <= s3_e1[U_W:1];

        n5_u <= s4_u1[U_W:1];
    end
endmodule

`default_nettype wire
