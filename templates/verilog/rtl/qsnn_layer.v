// qsnn_layer.v - one layer of the qsnn-deploy Verilog target: synapse (conv2d with an optional fused
// sumpool2d or a maxpool2d, or linear), requantize and LIF, exactly as docs/ir/ops.md defines them.
//
// Event-driven. The layer owns a queue of its active inputs (push port): (mask, value, c, y, x) for every
// non-zero input element (or block of spikes) of this step; zeros are never queued and cost nothing. Three
// phases, each started by a one-cycle pulse and ended by a one-cycle pulse (`done` for clear and acc, `ndone`
// for neuron). Acc and neuron have state machines of their own: with OVERLAP the controller runs the acc phase
// of step t+1 while the neuron phase of step t reads the accumulators (below):
//
//   clear   zero the accumulators and empty the queue (once per inference)
//   acc     for every queued event (also while the layer before is still pushing them: upstream_busy), for
//           every kernel tap that reaches a kept (pooled) output, for every group of LANES output channels:
//           (stride 2^STRIDE_LOG2: only the taps k with (t - k) a multiple of the stride reach an output,
//           (t - k) >> STRIDE_LOG2, t = coordinate + PAD; the walk steps the taps by the stride)
//           acc[pooled position][group] += value * weight[tap][group]. One group
//           per cycle: a read-modify-write of one wide accumulator word with one wide weight word (LANES
//           4-bit weights, input-major like the C target), through a pipeline that forwards the word
//           written by the operation right ahead (FORWARD) and waits on the (rare) one two ahead.
//           FOLD: the sum pool is folded into the kernel, the taps are the folded ones (one per pooled
//           output the input reaches) and the ROM holds W_BITS-bit sums of the 4-bit weights.
//           The queue is emptied at the end.
//   neuron  for every neuron (position-major, then channel): current = requantize(acc), LIF update, spike;
//           NLANES neurons (consecutive channels of one position) per cycle, each through a qsnn_neuron
//           pipeline. Their spikes are pushed as one event with a spike mask into the next layer's queue
//           (ev_*); every neuron's spike and membrane leave on the trace port. Accumulators are cleared as
//           they are read unless KEEP_ACC (a static first layer: its current never changes).
//           MAX_POOL: the acc phase fills the un-pooled conv map (a max needs complete sums, so it cannot be
//           taken while they are still growing); the neuron phase reads the 2^(2 POOL_LOG2) accumulator words
//           of each pooled position one per cycle and keeps, per lane, the max (or the min where the
//           channel's sign is -1, a bit of the requantize ROM word) before the requantize.
//
// OVERLAP (a shallow accumulator memory with flip-flop valid bits, no max pool): the neuron phase reads each
// accumulator word once, into a chain of HOLD registers of its own (the word it works on and the next HOLD - 1,
// read ahead), and hands it over at once: the word is cleared and released (a_held) as it is read. An operation of the next step's acc phase on a word that the neuron
// phase has not read yet waits, and so does one whose memory read would fall on the neuron phase's read.
//
// Widths are parameters computed by the code generator from the range analysis (docs/ir/ranges.md):
// ACC_W holds every partial sum, PROD_W the requantize multiply, CUR_W the current, STATE_W the membrane.
`default_nettype none

module qsnn_layer #(
    // input geometry (a linear layer: IN_C = features, IN_H = IN_W = 1, KH = KW = 1, PAD = 0)
    parameter integer IN_C = 1,
    parameter integer IN_H = 1,
    parameter integer IN_W = 1,
    parameter integer VAL_W = 1,        // width of an input value: 8 (uint8 frames) or 1 (spikes)
    // synapse
    parameter integer OC = 1,
    parameter integer KH = 1,
    parameter integer KW = 1,
    parameter integer PAD = 0,
    parameter integer STRIDE_LOG2 = 0,  // conv stride 2^STRIDE_LOG2 (not with FOLD)
    parameter integer OUT_H = 1,        // after pooling
    parameter integer OUT_W = 1,
    parameter integer POOL_LOG2 = 0,    // pool window 2^POOL_LOG2 (0: no pool)
    parameter integer MAX_POOL = 0,     // 1: the pool is a maxpool2d (else a fused sumpool2d)
    parameter integer FOLD = 0,         // 1: the sum pool is folded into the kernel (the ROM holds tap sums)
    parameter integer W_BITS = 4,       // bits of one ROM weight (4; more for folded sums)
    parameter integer FORWARD = 1,      // 1: forward the word written right ahead (0: wait for it)
    parameter integer ACC_VALID = 0,    // 1: a valid bit per accumulator word, cleared instead of the word
    parameter integer OVERLAP = 0,      // 1: acc (step t+1) may run during neuron (step t); needs ACC_VALID
    parameter integer HOLD = 1,         // OVERLAP: accumulator words the neuron phase holds (HOLD - 1 read ahead)
    parameter integer LANES = 1,        // output channels per cycle (a power of two)
    parameter integer NLANES = 1,       // neurons per cycle in the neuron phase (a power of two <= LANES)
    parameter integer IN_NL = 1,        // spike-mask bits of an incoming event (the layer before's NLANES)
    parameter integer MASK_STRIDE = 1,  // input channel step per mask bit (1, or the producer's H*W if flat)
    parameter integer GROUPS = 1,       // ceil(OC / LANES)
    parameter integer ACC_W = 16,
    parameter WEIGHT_FILE = "",
    // requantize: y = (acc * mult + bias + 2^(SHIFT-1)) >>> SHIFT
    parameter integer MUL_W = 32,
    parameter integer BIAS_W = 32,
    parameter integer PROD_W = 64,
    parameter integer SHIFT = 0,
    parameter integer CUR_W = 32,
    parameter RQ_FILE = "",
    // LIF
    parameter integer STATE_W = 32,
    parameter [31:0] THRESH = 32'd1,
    parameter [32:0] DECAY_MULT = 33'd1,
    parameter integer DM_W = 1,         // bits of DECAY_MULT (unsigned)
    parameter integer DECAY_SHIFT = 0,
    parameter integer RESET_ZERO = 0,
    parameter integer SATURATE = 0,     // clamp to the signed STATE_W range (the range analysis says it can)
    parameter integer KEEP_ACC = 0,     // 1: accumulators survive the neuron phase (static first layer)
    parameter integer NEXT_FLAT = 0,    // 1: the next layer is linear (events carry the flat index)
    // a synaptic current (SYN) and recurrent input (REC): the neurons are qsnn_cneuron (else qsnn_neuron)
    parameter integer SYN = 0,          // 1: a synaptic current per neuron, SYN_W bits, decay SYN_MULT/2^SYN_SHIFT
    parameter integer SYN_W = 1,
    parameter [32:0] SYN_MULT = 33'd0,
    parameter integer SYN_SHIFT = 0,
    parameter integer REC = 0,          // 1: recurrent weights from the layer's own spikes (a linear layer)
    parameter integer REC_WB = 4,       // bits of one recurrent weight in its ROM
    parameter integer RACC_W = 1,       // the recurrent sums
    parameter integer RMUL_W = 1,       // the recurrent multipliers
    parameter integer RSHIFT = 0,
    parameter REC_W_FILE = "",          // recurrent weights: word j*2^NBW + b, lane l = weight[b*NLANES + l, j]
    parameter REC_M_FILE = "",          // recurrent multipliers: word b, lane l = multiplier[b*NLANES + l]
    // derived widths (the defaults are the only correct values; listed so ports can use them)
    parameter integer CW = (IN_C > 1) ? $clog2(IN_C) : 1,
    parameter integer YW = (IN_H > 1) ? $clog2(IN_H) : 1,
    parameter integer XW = (IN_W > 1) ? $clog2(IN_W) : 1,
    parameter integer NEURONS = OC * OUT_H * OUT_W,
    parameter integer N_AW = (NEURONS > 1) ? $clog2(NEURONS) : 1,
    parameter integer OCW = (OC > 1) ? $clog2(OC) : 1,
    parameter integer OYW = (OUT_H > 1) ? $clog2(OUT_H) : 1,
    parameter integer OXW = (OUT_W > 1) ? $clog2(OUT_W) : 1,
    parameter integer EC_W = (NEXT_FLAT != 0) ? N_AW : OCW,
    parameter integer EY_W = (NEXT_FLAT != 0) ? 1 : OYW,
    parameter integer EX_W = (NEXT_FLAT != 0) ? 1 : OXW,
    parameter integer NB = (OC + NLANES - 1) / NLANES,  // channel blocks of NLANES
    parameter integer NBW = (NB > 1) ? $clog2(NB) : 1,
    parameter integer M_AW = (OUT_H * OUT_W * NB > 1) ? $clog2(OUT_H * OUT_W * NB) : 1,
    parameter integer TR_W = STATE_W + ((SYN != 0) ? SYN_W : 0)  // a traced neuron: {current (SYN), membrane}
) (
    input  wire                clk,
    input  wire                rst,
    // event queue input (one event per cycle)
    input  wire                push_valid,
    input  wire [IN_NL-1:0]    push_mask,
    input  wire [VAL_W-1:0]    push_val,
    input  wire [CW-1:0]       push_c,
    input  wire [YW-1:0]       push_y,
    input  wire [XW-1:0]       push_x,
    // control
    input  wire                start_clear,
    input  wire                start_acc,
    input  wire                start_neuron,
    input  wire                upstream_busy, // the layer before is still pushing events (acc waits for them)
    input  wire                first_step,    // membranes read as 0 (the state before step 0)
    output reg                 done,          // clear or acc done
    output reg                 ndone,         // neuron phase done (after the recurrent pass, REC)
    // spikes of this step as events of the next layer
    output reg                 ev_valid,
    output reg  [NLANES-1:0]   ev_mask,
    output reg  [EC_W-1:0]     ev_c,
    output reg  [EY_W-1:0]     ev_y,
    output reg  [EX_W-1:0]     ev_x,
    // trace: NLANES neurons per cycle, in neuron-phase order: lane j (valid when tr_lanes[j]) is the neuron of
    // (C, H, W) flat index tr_index + j * OUT_H * OUT_W; tr_membranes lane j is its membrane, under SYN
    // {synaptic current, membrane} (TR_W bits)
    output reg                 tr_valid,
    output reg  [N_AW-1:0]     tr_index,
    output reg  [NLANES-1:0]   tr_lanes,
    output reg  [NLANES-1:0]   tr_spikes,
    output reg  [NLANES*TR_W-1:0] tr_membranes
);
    // ---------------------------------------------------------------- sizes
    localparam integer Q_DEPTH = IN_C * IN_H * IN_W;
    localparam integer Q_AW = (Q_DEPTH > 1) ? $clog2(Q_DEPTH) : 1;
    localparam integer Q_CW = $clog2(Q_DEPTH + 1);
    localparam integer EVW = IN_NL + VAL_W + CW + YW + XW;
    localparam integer POS = OUT_H * OUT_W;
    localparam integer LIM_H = OUT_H << POOL_LOG2;  // conv rows that a kept pool window covers
    localparam integer LIM_W = OUT_W << POOL_LOG2;
    // accumulator positions: pooled (a sum pool adds into them) or, under a max pool, the kept conv map
    localparam integer A_SHIFT = (MAX_POOL != 0) ? 0 : POOL_LOG2;
    localparam integer A_ROW = (MAX_POOL != 0) ? LIM_W : OUT_W;
    localparam integer A_POS = (MAX_POOL != 0) ? LIM_H * LIM_W : POS;
    localparam integer WIN = (MAX_POOL != 0) ? (1 << (2 * POOL_LOG2)) : 1;  // words read per neuron block
    localparam integer A_DEPTH = A_POS * GROUPS;
    localparam integer A_AW = (A_DEPTH > 1) ? $clog2(A_DEPTH) : 1;
    localparam integer A_WORD = LANES * ACC_W;
    // ACC_VALID: the accumulator memory holds {valid, sums}. A clear writes valid = 0 and a read of a word
    // with valid = 0 gives zeros (a synchronous reset of the register it lands in, free in FPGA flip-flops),
    // so no LANES x ACC_W multiplexer chooses between the sums and zero on the write port.
    // OVERLAP keeps the valid bits in flip-flops (a_vld): the neuron phase clears them while the acc phase
    // writes the memory.
    localparam integer A_RAM_W = A_WORD + ((OVERLAP == 0) ? ACC_VALID : 0);
    // Folded (FOLD): an input at padded row t (columns alike) reaches pooled row (t >> POOL_LOG2) - a through
    // the sum of the conv taps k in [r + a*PK - (PK-1), r + a*PK], r = t mod PK: FKH folded taps a, one ROM
    // word per phase (ry, rx), input channel, folded tap and group. Unfolded: KH x KW taps, one phase.
    localparam integer PK = 1 << POOL_LOG2;
    localparam integer FKH = (FOLD != 0) ? (KH + PK - 2) / PK + 1 : KH;
    localparam integer FKW = (FOLD != 0) ? (KW + PK - 2) / PK + 1 : KW;
    localparam integer PHASES = (FOLD != 0) ? PK * PK : 1;
    localparam integer T_SHIFT = (FOLD != 0) ? 0 : A_SHIFT + STRIDE_LOG2;  // t - tap -> accumulator position
    localparam integer W_DEPTH = PHASES * IN_C * FKH * FKW * GROUPS;
    localparam integer W_AW = (W_DEPTH > 1) ? $clog2(W_DEPTH) : 1;
    localparam integer W_WORD = LANES * W_BITS;
    localparam integer RQ_W = MUL_W + BIAS_W + MAX_POOL;  // {min instead of max, bias, multiplier}
    localparam integer BPW = LANES / NLANES;  // channel blocks per accumulator word
    // counters and coordinates: wide enough for every address, index and (padded) coordinate of the layer
    localparam integer SPAN_H = $clog2(IN_H + 2 * PAD + KH + (LIM_H << STRIDE_LOG2) + 2);
    localparam integer SPAN_W = $clog2(IN_W + 2 * PAD + KW + (LIM_W << STRIDE_LOG2) + 2);
    localparam integer M1 = (N_AW > W_AW) ? N_AW : W_AW;
    localparam integer M2 = (A_AW > Q_CW) ? A_AW : Q_CW;
    localparam integer M3 = (SPAN_H > SPAN_W) ? SPAN_H : SPAN_W;
    localparam integer M4 = (M1 > M2) ? M1 : M2;
    localparam integer CNT_W = ((M3 > M4) ? M3 : M4) + 1;
    /* verilator lint_off WIDTH */
    localparam [CNT_W-1:0] C_PAD = PAD, C_KH_M1 = KH - 1,
                           C_KW_M1 = KW - 1, C_G_M1 = GROUPS - 1, C_G = GROUPS, C_OC_M1 = OC - 1,
                           C_POS_M1 = POS - 1, C_OW_M1 = OUT_W - 1,
                           C_ADEPTH_M1 = A_DEPTH - 1, C_ONE = 1, C_NB_M1 = NB - 1, C_BPW_M1 = BPW - 1,
                           C_NL = NLANES, C_NLPOS = NLANES * POS, C_WIN_M1 = WIN - 1,
                           C_PK_M1 = (1 << POOL_LOG2) - 1, C_OH_M1 = OUT_H - 1,
                           C_KH_PK_M2 = KH + PK - 2, C_KW_PK_M2 = KW + PK - 2,
                           C_S = 1 << STRIDE_LOG2, C_HOLD_M2 = (HOLD > 1) ? HOLD - 2 : 0, C_S_M1 = (1 << STRIDE_LOG2) - 1,
                           C_SLIMH = (LIM_H - 1) << STRIDE_LOG2, C_SLIMW = (LIM_W - 1) << STRIDE_LOG2;
    /* verilator lint_on WIDTH */
    localparam [CNT_W-1:0] C_ZERO = {CNT_W{1'b0}};

    // x * k for a constant k as shifts and adds (address arithmetic stays out of the DSP blocks)
    function [CNT_W-1:0] mulc(input [CNT_W-1:0] x, input integer k);
        integer i;
        begin
            mulc = {CNT_W{1'b0}};
            for (i = 0; i < 31; i = i + 1) if (k[i]) mulc = mulc + (x << i);
        end
    endfunction

    // ---------------------------------------------------------------- event queue
    reg  [Q_CW-1:0] q_count;
    wire [Q_AW-1:0] q_raddr;
    wire [EVW-1:0]  q_rdata;
    qsnn_ram #(.WIDTH(EVW), .DEPTH(Q_DEPTH), .ADDR_W(Q_AW)) u_queue (
        .clk(clk), .we(push_valid), .waddr(q_count[Q_AW-1:0]), .wdata({push_mask, push_val, push_c, push_y, push_x}),
        .raddr(q_raddr), .rdata(q_rdata)
    );

    // ---------------------------------------------------------------- memories
    wire              a_we;
    wire [A_AW-1:0]   a_waddr;
    wire [A_RAM_W-1:0] a_wdata;
    wire [A_AW-1:0]   a_raddr;
    wire [A_RAM_W-1:0] a_rdata;
    qsnn_ram #(.WIDTH(A_RAM_W), .DEPTH(A_DEPTH), .ADDR_W(A_AW)) u_acc (
        .clk(clk), .we(a_we), .waddr(a_waddr), .wdata(a_wdata), .raddr(a_raddr), .rdata(a_rdata)
    );

    wire [W_AW-1:0]   w_raddr;
    wire [W_WORD-1:0] w_rdata;
    qsnn_ram #(.WIDTH(W_WORD), .DEPTH(W_DEPTH), .ADDR_W(W_AW), .INIT_FILE(WEIGHT_FILE)) u_weights (
        .clk(clk), .we(1'b0), .waddr({W_AW{1'b0}}), .wdata({W_WORD{1'b0}}), .raddr(w_raddr), .rdata(w_rdata)
    );

    wire [NBW-1:0]           rq_raddr;
    wire [NLANES*RQ_W-1:0]   rq_rdata;
    qsnn_ram #(.WIDTH(NLANES * RQ_W), .DEPTH(NB), .ADDR_W(NBW), .INIT_FILE(RQ_FILE)) u_rq (
        .clk(clk), .we(1'b0), .waddr({NBW{1'b0}}), .wdata({(NLANES * RQ_W){1'b0}}), .raddr(rq_raddr),
        .rdata(rq_rdata)
    );

    reg                         m_we;
    reg  [M_AW-1:0]             m_waddr;
    reg  [NLANES*STATE_W-1:0]   m_wdata;
    wire [M_AW-1:0]             m_raddr;
    wire [NLANES*STATE_W-1:0]   m_rdata;
    qsnn_ram #(.WIDTH(NLANES * STATE_W), .DEPTH(POS * NB), .ADDR_W(M_AW)) u_mem (
        .clk(clk), .we(m_we), .waddr(m_waddr), .wdata(m_wdata), .raddr(m_raddr), .rdata(m_rdata)
    );

    // ---------------------------------------------------------------- synaptic currents (SYN)
    // One word of NLANES currents per membrane word, at the membrane's address, read and written with it.
    generate
        if (SYN != 0) begin : g_syn
            qsnn_ram #(.WIDTH(NLANES * SYN_W), .DEPTH(POS * NB), .ADDR_W(M_AW)) u_syn (
                .clk(clk), .we(m_we), .waddr(m_waddr), .wdata(s_wdata), .raddr(m_raddr), .rdata(s_rdata)
            );
        end else begin : g_no_syn
            assign s_rdata = {(NLANES * SYN_W){1'b0}};
        end
    endgenerate

    // ---------------------------------------------------------------- phase state
    localparam [2:0] S_IDLE = 3'd0, S_CLEAR = 3'd1, S_NEXT = 3'd2, S_RUN = 3'd3, S_DRAIN = 3'd4;
    localparam [1:0] N_IDLE = 2'd0, N_NEURON = 2'd1, N_REC = 2'd2, N_FILL = 2'd3;  // N_FILL: HOLD - 1 reads ahead
    reg [2:0] state;   // clear and acc
    reg [1:0] nstate;  // neuron (and the recurrent pass)

    // ---------------------------------------------------------------- acc phase
    // The event being worked on and its window of kernel taps: the taps k with t - k in [0, S*(LIM-1)] and a
    // multiple of the stride S = 2^STRIDE_LOG2 (a kept, pooled output (t - k) / S) and k in [0, K),
    // t = coordinate + PAD.
    reg [Q_CW-1:0]  e;                // next event to fetch
    reg [VAL_W-1:0] ev_val;
    reg [CNT_W-1:0] ev_cin, ty, tx;   // input channel, row + PAD, column + PAD (folded: >> POOL_LOG2)
    reg [CNT_W-1:0] phase;            // folded: the pool phase (ry, rx) of the input, else 0
    reg [CNT_W-1:0] u, v, g, u_hi, v_lo, v_hi;
    // The fetcher reads and decodes the next event while the current one runs (f_state: 0 idle, 1 read
    // issued, 2 word registered); nd_* is the decoded next event, taken when the current one ends.
    reg [1:0]       f_state;
    /* verilator lint_off UNUSED */
    reg [EVW-1:0]   ev_word;          // the queue word, registered as it leaves the memory (mask: ev_left)
    /* verilator lint_on UNUSED */
    reg [IN_NL-1:0] ev_left;          // its spike-mask bits not decoded yet (each is one input channel)
    // the lowest set bit of a mask
    function [CNT_W-1:0] low_bit(input [IN_NL-1:0] m);
        integer i;
        begin
            low_bit = {CNT_W{1'b0}};
            for (i = IN_NL - 1; i >= 0; i = i - 1) if (m[i]) low_bit = i[CNT_W-1:0];
        end
    endfunction
    wire [CNT_W-1:0] f_bit = low_bit(ev_left);
    wire [IN_NL-1:0] f_left = ev_left & ~({{(IN_NL - 1){1'b0}}, 1'b1} << f_bit);
    reg             nd_valid;
    reg [VAL_W-1:0] nd_val;
    reg [CNT_W-1:0] nd_cin, nd_ty, nd_tx, nd_u_lo, nd_u_hi, nd_v_lo, nd_v_hi, nd_phase;
    wire [CNT_W-1:0] dq_pty = {{(CNT_W - YW){1'b0}}, ev_word[XW +: YW]} + C_PAD;  // padded coordinates
    wire [CNT_W-1:0] dq_ptx = {{(CNT_W - XW){1'b0}}, ev_word[0 +: XW]} + C_PAD;
    // tap-walk coordinates: padded, or folded the pooled row/column and the phase
    wire [CNT_W-1:0] dq_ty = (FOLD != 0) ? dq_pty >> POOL_LOG2 : dq_pty;
    wire [CNT_W-1:0] dq_tx = (FOLD != 0) ? dq_ptx >> POOL_LOG2 : dq_ptx;
    wire [CNT_W-1:0] dq_ry = dq_pty & C_PK_M1;
    wire [CNT_W-1:0] dq_rx = dq_ptx & C_PK_M1;
    wire [CNT_W-1:0] dq_phase = (FOLD != 0) ? (dq_ry << POOL_LOG2) + dq_rx : C_ZERO;
    // the last tap: KH - 1, or folded the last folded tap with a conv tap for this phase
    wire [CNT_W-1:0] dq_kh_m1 = (FOLD != 0) ? (C_KH_PK_M2 - dq_ry) >> POOL_LOG2 : C_KH_M1;
    wire [CNT_W-1:0] dq_kw_m1 = (FOLD != 0) ? (C_KW_PK_M2 - dq_rx) >> POOL_LOG2 : C_KW_M1;
    // t - k at most S*(LIM - 1): the last kept output (folded: the last pooled one, S = 1)
    wire [CNT_W-1:0] dq_limh_m1 = (FOLD != 0) ? C_OH_M1 : C_SLIMH;
    wire [CNT_W-1:0] dq_limw_m1 = (FOLD != 0) ? C_OW_M1 : C_SLIMW;
    // The first and the last tap with t - k a multiple of S: both are congruent to t modulo S, so the walk from
    // u_lo in steps of S ends on u_hi (S = 1: every tap, the masks are 0).
    wire [CNT_W-1:0] dq_u_lo = (dq_ty > dq_limh_m1) ? dq_ty - dq_limh_m1 : dq_ty & C_S_M1;
    // min(t, K - 1) rounded down to t's residue (lint: KH may be 1); where K < S no tap may have it (dq_rh > K - 1)
    wire [CNT_W-1:0] dq_rh = (dq_kh_m1 - dq_ty) & C_S_M1;
    wire [CNT_W-1:0] dq_rw = (dq_kw_m1 - dq_tx) & C_S_M1;
    wire [CNT_W-1:0] dq_u_hi = (dq_ty + C_ONE < dq_kh_m1 + C_ONE) ? dq_ty : dq_kh_m1 - dq_rh;
    wire [CNT_W-1:0] dq_v_lo = (dq_tx > dq_limw_m1) ? dq_tx - dq_limw_m1 : dq_tx & C_S_M1;
    wire [CNT_W-1:0] dq_v_hi = (dq_tx + C_ONE < dq_kw_m1 + C_ONE) ? dq_tx : dq_kw_m1 - dq_rw;
    wire        dq_empty = (dq_u_lo > dq_u_hi) || (dq_v_lo > dq_v_hi)
                           || (dq_kh_m1 + C_ONE < dq_rh + C_ONE) || (dq_kw_m1 + C_ONE < dq_rw + C_ONE);  // rh > KH - 1
    wire        queue_empty = (e == q_count);

    // The operation of this S_RUN cycle: accumulator word of the pooled output, weight word of the tap.
    /* verilator lint_off UNUSED */
    wire [CNT_W-1:0] run_py = (ty - u) >> T_SHIFT;
    wire [CNT_W-1:0] run_px = (tx - v) >> T_SHIFT;
    wire [CNT_W-1:0] run_aaddr = mulc(mulc(run_py, A_ROW) + run_px, GROUPS) + g;
    wire [CNT_W-1:0] run_waddr = mulc(mulc(mulc(mulc(phase, IN_C) + ev_cin, FKH) + u, FKW) + v, GROUPS) + g;
    /* verilator lint_on UNUSED */
    wire        run_last_g = (g == C_G_M1);
    wire        run_last_v = run_last_g && (v == v_hi);
    wire        run_last_op = run_last_v && (u == u_hi);

    // Accumulate pipeline: pr = the operation's addresses registered, a0 = memories read at the end of it,
    // a1 = read words registered, a2 = add and write back. A read misses the writes of the two operations
    // ahead of it: a2 takes the word written in the cycle before (fw, the operation right ahead: neighbouring
    // taps of a pooled window) and an operation on the word of the one two ahead waits in pr (hazard, rare).
    reg              pr_valid, a0_valid, a1_valid, a2_valid;
    reg [A_AW-1:0]   pr_addr, a0_addr, a1_addr, a2_addr;
    reg [W_AW-1:0]   pr_waddr;
    /* verilator lint_off UNUSED */
    reg [VAL_W-1:0]  pr_val, a0_val, a1_val;  // unused when the inputs are spikes (VAL_W = 1)
    /* verilator lint_on UNUSED */
    // Without forwarding an operation also waits for the one right ahead (in a0): two cycles, rare where
    // FORWARD = 0 (consecutive operations of one event always hit different words there).
    // OVERLAP: it also waits while its word holds sums the neuron phase has not read (a_held), and in the
    // cycle before a neuron-phase read of the memory (n_rd_next: the read port is the neuron phase's then).
    wire ov_wait;
    wire hazard = pr_valid && ((a1_valid && a1_addr == pr_addr) || (FORWARD == 0 && a0_valid && a0_addr == pr_addr)
                               || ov_wait);
    reg [A_WORD-1:0] a2_word;
    // The weight ROM is read a cycle ahead of the accumulators (address from pr): its word is registered in
    // a1_weights, and a pixel layer's products are computed in a1 and registered, so the a2 stage is one add.
    reg [W_WORD-1:0] a1_weights;
    /* verilator lint_off UNUSED */
    reg [W_WORD-1:0] a2_weights;  // spike inputs: the weights are the terms (unused for pixel inputs)
    /* verilator lint_on UNUSED */
    reg              fw_valid;
    reg [A_AW-1:0]   fw_addr;
    reg [A_WORD-1:0] fw_data;
    wire [A_WORD-1:0] a2_old = (FORWARD != 0 && fw_valid && fw_addr == a2_addr) ? fw_data : a2_word;
    wire [A_WORD-1:0] a2_new;
    genvar l;
    generate
        for (l = 0; l < LANES; l = l + 1) begin : g_lane
            wire signed [ACC_W-1:0] old = a2_old[ACC_W * l +: ACC_W];
            wire signed [ACC_W-1:0] term;
            if (VAL_W == 1) begin : g_spike  // a spike adds the weight itself
                wire signed [W_BITS-1:0] w = a2_weights[W_BITS * l +: W_BITS];
                assign term = {{(ACC_W - W_BITS){w[W_BITS-1]}}, w};
            end else begin : g_value  // value * weight as shifts and adds: a few LUTs, no DSP block
                localparam integer PW = VAL_W + W_BITS + 1;
                wire signed [W_BITS-1:0] w = a1_weights[W_BITS * l +: W_BITS];
                wire [PW-1:0] x = {{(W_BITS + 1){1'b0}}, a1_val};
                reg  [PW-1:0] prod;
                reg  [PW-1:0] a2_prod;  // registered: the a2 stage only adds it
                integer b;
                // One sum of selected shifts (two's complement: the top weight bit counts -2^(W_BITS-1)), with no
                // multiplexer between the additions, so Yosys makes it one carry-save tree, not a chain of
                // carry chains.
                always @* begin
                    prod = {PW{1'b0}} - (w[W_BITS-1] ? x << (W_BITS - 1) : {PW{1'b0}});
                    for (b = 0; b < W_BITS - 1; b = b + 1) prod = prod + (w[b] ? x << b : {PW{1'b0}});
                end
                always @(posedge clk) a2_prod <= prod;
                assign term = {{(ACC_W - PW){a2_prod[PW-1]}}, a2_prod};
            end
            assign a2_new[ACC_W * l +: ACC_W] = old + term;
        end
    endgenerate
    wire acc_busy = pr_valid || a0_valid || a1_valid || a2_valid;

    // ---------------------------------------------------------------- neuron phase
    // Counters of the issuing cycle: position p = (y, x), channel block b (channels obase .. obase+NLANES-1),
    // membrane word k = p*NB + b, flat (C, H, W) index of the block's first neuron.
    /* verilator lint_off UNUSED */
    reg [CNT_W-1:0] n_p, n_y, n_x, n_b, n_obase, n_k, n_index, n_abase;
    reg [CNT_W-1:0] n_w, n_wy, n_wx;  // max pool: the window's word being read (row n_wy, column n_wx)
    wire       n_last_w = (MAX_POOL == 0) || (n_w == C_WIN_M1);  // a constant 1 without a max pool
    // n_b == C_NB_M1, (n_b & C_BPW_M1) == C_BPW_M1 and n_p == C_POS_M1 as registers, set with the counters: the
    // compares were the head of the ECP5 critical path (n_b -> n_last_b -> n_rd_next -> the accumulate hazard ->
    // the next event's fetch)
    reg        n_last_b_q, n_blk_last_q, n_last_p_q;
    // their values at a position's first block (NLB0, NBL0) and the phase's first block (NLP0 too), and the
    // values the counters' next step gives them (nx_*), shared by the counters and n_rd_blk_at below
    localparam NLB0 = C_NB_M1 == C_ZERO, NBL0 = C_BPW_M1 == C_ZERO, NLP0 = C_POS_M1 == C_ZERO;
    wire       nx_last_b = n_b + C_ONE == C_NB_M1;
    wire       nx_blk_last = ((n_b + C_ONE) & C_BPW_M1) == C_BPW_M1;
    wire       nx_last_p = n_p + C_ONE == C_POS_M1;
    wire       n_last_b = n_last_b_q;
    wire       n_last = n_last_w && n_last_b && n_last_p_q;
    reg        n_issuing;
    reg [A_AW-1:0] clr_addr;
    wire [CNT_W-1:0] n_group = n_obase >> $clog2(LANES);
    wire [CNT_W-1:0] n_blk = n_b & C_BPW_M1;            // the block's place in its accumulator word
    wire [CNT_W-1:0] n_aaddr = (MAX_POOL != 0)
        ? mulc(mulc((n_y << POOL_LOG2) + n_wy, A_ROW) + (n_x << POOL_LOG2) + n_wx, GROUPS) + n_group
        : n_abase + n_group;
    wire        n_word_done = n_blk_last_q || n_last_b;

    wire nd_take = nd_valid && (state == S_NEXT || (state == S_RUN && !hazard && run_last_op));
    wire acc_phase = (state == S_NEXT) || (state == S_RUN);

    // Memory ports. Reads are issued from registers (acc phase: a0; neuron phase: the counters), so their
    // data arrives one cycle later.
    wire n_clear = (nstate == N_NEURON) && n_issuing && KEEP_ACC == 0 && n_word_done && OVERLAP == 0;
    // OVERLAP: the neuron phase reads the memory at a word's first block only (n_rd), issued the cycle before
    wire n_rd_blk = nstate == N_NEURON && n_issuing && !n_last && n_word_done;  // a block that reads next
    wire n_rd_start = (nstate == N_IDLE && start_neuron) || nstate == N_FILL;  // the phase's reads ahead
    wire n_rd_next = n_rd_start || n_rd_blk;
    reg  n_rd, n_rd1;  // the neuron phase reads the memory this cycle; its word arrives this cycle
    reg  [CNT_W-1:0] pf_addr;  // OVERLAP: the word it reads (past the last: a read that only moves the chain)
    reg  [CNT_W-1:0] n_fill;   // N_FILL: reads ahead so far
    wire pf_in = pf_addr <= C_ADEPTH_M1;
    // n_rd_blk of the next cycle, from this cycle's registers (the branches of N_NEURON below, and its entry
    // from N_FILL or N_IDLE), kept in n_rd_blk_q: the accumulate hazard (ov_wait) takes it from a register. As a
    // combination of the neuron counters' flags it was the head of an ECP5 critical path from the neuron
    // phase's flip-flops to the fetcher's, across the chip.
    localparam        NLW0 = (MAX_POOL == 0) || (C_WIN_M1 == C_ZERO);  // n_last_w at a block's first word
    reg  n_rd_blk_q, n_rd_blk_at;
    always @* begin
        n_rd_blk_at = 1'b0;
        if (nstate == N_NEURON && n_issuing && !n_last) begin
            if (!n_last_w)  // the window's next word, same block (max pool)
                n_rd_blk_at = !(n_w + C_ONE == C_WIN_M1 && n_last_b && n_last_p_q) && n_word_done;
            else if (n_last_b)  // the next position's first block
                n_rd_blk_at = !(NLW0 && NLB0 && nx_last_p) && (NBL0 || NLB0);
            else  // the next block
                n_rd_blk_at = !(NLW0 && nx_last_b && n_last_p_q) && (nx_blk_last || nx_last_b);
        end else if ((nstate == N_FILL && n_fill == C_HOLD_M2) || (nstate == N_IDLE && start_neuron && HOLD == 1)) begin
            n_rd_blk_at = !(NLW0 && NLB0 && NLP0) && (NBL0 || NLB0);  // the first block
        end
    end
    always @(posedge clk) n_rd_blk_q <= n_rd_blk_at && !rst;
`ifndef SYNTHESIS
    always @(posedge clk)
        if (!rst && n_rd_blk_q != n_rd_blk) begin
            $display("qsnn_layer: n_rd_blk_q predicted %0d, n_rd_blk is %0d", n_rd_blk_q, n_rd_blk);
            $stop;
        end
`endif
    assign q_raddr = e[Q_AW-1:0];
    assign a_raddr = (OVERLAP != 0) ? (n_rd ? pf_addr[A_AW-1:0] : a0_addr)
                                    : ((nstate == N_NEURON) ? n_aaddr[A_AW-1:0] : a0_addr);
    assign w_raddr = pr_waddr;  // a cycle ahead of the accumulator read (a0): see a1_weights
    assign m_raddr = n_k[M_AW-1:0];
    assign rq_raddr = n_b[NBW-1:0];
    assign a_we = a2_valid || (state == S_CLEAR) || n_clear;
    assign a_waddr = a2_valid ? a2_addr : (state == S_CLEAR) ? clr_addr : n_aaddr[A_AW-1:0];
    wire [A_WORD-1:0] a_rsums;  // the sums the read brings: the word's, or zeros for a cleared word
    wire [A_WORD-1:0] n_word;  // the word the neuron phase works on: a2_word, or OVERLAP a register of its own
    wire              n_word_vld;  // OVERLAP: its valid bit (0: the word reads as zeros)
    generate
        if (OVERLAP != 0) begin : g_overlap
            reg [A_DEPTH-1:0] a_vld;   // the word has sums (written since its last clear)
            reg [A_DEPTH-1:0] a_held;  // the word holds sums of a step the neuron phase has not read yet
            reg               a_rvld;  // the valid bit of the word read, registered with it
            // The hold chain: every read's word enters at the tail (HOLD - 1) and moves one place toward the
            // head (0) with each later read, so word w reaches the head with the read of word w + HOLD - 1,
            // which the neuron phase issues with word w's first block: the head is word w from that block on.
            // Flip-flops with an enable and nothing else: the words enter as read and their valid bits beside
            // them (n_hvld), applied to the NLANES lanes taken from the head (a zero for each of the A_WORD bits
            // under the enable would cost a LUT each: the flip-flop's reset does not wait for its enable).
            reg [A_WORD-1:0]  n_hold [0:HOLD-1];
            reg [HOLD-1:0]    n_hvld;
            genvar gh;
            for (gh = 0; gh < HOLD; gh = gh + 1) begin : g_hold
                always @(posedge clk)
                    if (n_rd1) begin
                        n_hold[gh] <= (gh == HOLD - 1) ? a_rdata : n_hold[(gh + 1) % HOLD];
                        n_hvld[gh] <= (gh == HOLD - 1) ? a_rvld : n_hvld[(gh + 1) % HOLD];
                    end
            end
            assign n_word = n_hold[0];
            assign n_word_vld = n_hvld[0];
            assign a_wdata = a2_new;
            assign a_rsums = a_rvld ? a_rdata : {A_WORD{1'b0}};
            assign ov_wait = a_held[pr_addr] || n_rd_start || n_rd_blk_q;
            always @(posedge clk) begin
                a_rvld <= a_vld[a_raddr];
                n_rd <= n_rd_next && !rst;
                n_rd1 <= n_rd;
                pf_addr <= (nstate == N_IDLE) ? C_ZERO : pf_addr + {{(CNT_W - 1){1'b0}}, n_rd};
                if (nstate == N_IDLE && start_neuron) a_held <= {A_DEPTH{1'b1}};
                if (n_rd && pf_in) a_held[pf_addr[A_AW-1:0]] <= 1'b0;
                if (a2_valid) a_vld[a2_addr] <= 1'b1;
                if (n_rd && pf_in && KEEP_ACC == 0) a_vld[pf_addr[A_AW-1:0]] <= 1'b0;
                if (state == S_CLEAR || rst) begin
                    a_vld <= {A_DEPTH{1'b0}};
                    a_held <= {A_DEPTH{1'b0}};
                end
            end
        end else if (ACC_VALID != 0) begin : g_valid_bit
            assign a_wdata = {a2_valid, a2_new};  // a clear writes valid = 0 (and sums nobody reads)
            assign a_rsums = a_rdata[A_WORD] ? a_rdata[A_WORD-1:0] : {A_WORD{1'b0}};
            assign ov_wait = 1'b0;
            assign n_word = a2_word;
            assign n_word_vld = 1'b1;
            always @(posedge clk) {n_rd, n_rd1, pf_addr} <= {2'b00, C_ZERO};
        end else begin : g_zero_write
            assign a_wdata = a2_valid ? a2_new : {A_WORD{1'b0}};
            assign a_rsums = a_rdata;
            assign ov_wait = 1'b0;
            assign n_word = a2_word;
            assign n_word_vld = 1'b1;
            always @(posedge clk) {n_rd, n_rd1, pf_addr} <= {2'b00, C_ZERO};
        end
    endgenerate

    // Neuron pipeline: n1 = memory words arrive and are registered (the accumulator word in a2_word);
    // n1b = the block's lanes go into NLANES qsnn_neuron pipelines (5 stages); n6 = their results are
    // written back, traced and pushed as one event.
    reg              n1_valid, n1b_valid, n2_valid, n3_valid, n4_valid, n5_valid, n6_valid;
    reg              n1_first;
    reg              n1_read, n1b_read, n1_wfirst, n1b_wfirst;  // max pool: a window word arrives, its first
    reg [CNT_W-1:0]  n1_blk, n1_obase, n1_y, n1_x, n1_k, n1_index;
    reg [CNT_W-1:0]  n1b_blk, n1b_obase, n1b_y, n1b_x, n1b_k, n1b_index;
    reg [NLANES*STATE_W-1:0] n1b_v;
    reg [NLANES*RQ_W-1:0]    n1b_rq;
    reg [CNT_W-1:0]  n2_obase, n2_y, n2_x, n2_k, n2_index;
    reg [CNT_W-1:0]  n3_obase, n3_y, n3_x, n3_k, n3_index;
    reg [CNT_W-1:0]  n4_obase, n4_y, n4_x, n4_k, n4_index;
    reg [CNT_W-1:0]  n5_obase, n5_y, n5_x, n5_k, n5_index;
    reg [CNT_W-1:0]  n6_obase, n6_y, n6_x, n6_k, n6_index;
    /* verilator lint_on UNUSED */
    wire neuron_busy = n1_valid || n1b_valid || n2_valid || n3_valid || n4_valid || n5_valid || n6_valid;
    wire [NLANES*ACC_W-1:0]   n1b_word = n_word_vld ? n_word[NLANES * ACC_W * n1b_blk +: NLANES * ACC_W]
                                                    : {(NLANES * ACC_W){1'b0}};
    wire [NLANES*ACC_W-1:0]   n1b_accs;     // the neurons' accumulators: the word's, or the window's max/min
    /* verilator lint_off UNUSED */
    reg  [NLANES*ACC_W-1:0]   n1b_best;     // max pool: the max/min of the window's words read so far
    /* verilator lint_on UNUSED */
    wire [NLANES*STATE_W-1:0] n6_v;
    wire [NLANES-1:0]         n6_spike, n6_ok;
    wire [NLANES*TR_W-1:0]    n6_tr;        // the trace lanes: {current (SYN), membrane}
    /* verilator lint_off UNUSED */
    wire [NLANES*SYN_W-1:0]   n6_i;         // SYN: the new synaptic currents
    reg  [NLANES*SYN_W-1:0]   s_wdata;      // SYN: written with the membranes (m_we, m_waddr)
    wire [NLANES*SYN_W-1:0]   s_rdata;      // SYN: the currents of the last step (read with the membranes)
    reg  [NLANES*SYN_W-1:0]   n1b_i;
    wire [NLANES*RACC_W-1:0]  r_word;       // REC: the recurrent sums of neuron block n1_k
    wire [NLANES*RMUL_W-1:0]  rm_rdata;     // REC: their multipliers (read with the requantize ROM)
    reg  [NLANES*RACC_W-1:0]  n1b_ra;
    reg  [NLANES*RMUL_W-1:0]  n1b_rm;
    wire                      rec_done;     // REC: the recurrent sums of the next step are complete
    /* verilator lint_on UNUSED */
    genvar j;
    generate
        for (j = 0; j < NLANES; j = j + 1) begin : g_neuron
            if (MAX_POOL != 0) begin : g_max
                wire signed [ACC_W-1:0] x = n1b_word[ACC_W * j +: ACC_W];
                wire signed [ACC_W-1:0] best = n1b_best[ACC_W * j +: ACC_W];
                wire                    neg = n1b_rq[RQ_W * j + MUL_W + BIAS_W];  // sign -1: keep the min
                wire                    take = n1b_wfirst || (neg ? (x < best) : (x > best));
                assign n1b_accs[ACC_W * j +: ACC_W] = take ? x : best;
            end else begin : g_sum
                assign n1b_accs[ACC_W * j +: ACC_W] = n1b_word[ACC_W * j +: ACC_W];
            end
            if (SYN != 0 || REC != 0) begin : g_cneuron
                qsnn_cneuron #(
                    .ACC_W(ACC_W), .MUL_W(MUL_W), .BIAS_W(BIAS_W), .SHIFT(SHIFT), .STATE_W(STATE_W),
                    .THRESH(THRESH), .DECAY_MULT(DECAY_MULT), .DECAY_SHIFT(DECAY_SHIFT), .RESET_ZERO(RESET_ZERO),
                    .SYN(SYN), .SYN_W(SYN_W), .SYN_MULT(SYN_MULT), .SYN_SHIFT(SYN_SHIFT),
                    .REC(REC), .RACC_W(RACC_W), .RMUL_W(RMUL_W), .RSHIFT(RSHIFT)
                ) u_neuron (
                    .clk(clk),
                    .acc(n1b_accs[ACC_W * j +: ACC_W]),
                    .mult(n1b_rq[RQ_W * j +: MUL_W]),
                    .bias(n1b_rq[RQ_W * j + MUL_W +: BIAS_W]),
                    .rec_acc(n1b_ra[RACC_W * j +: RACC_W]),
                    .rec_mult(n1b_rm[RMUL_W * j +: RMUL_W]),
                    .i(n1_first ? {SYN_W{1'b0}} : n1b_i[SYN_W * j +: SYN_W]),
                    .v(n1_first ? {STATE_W{1'b0}} : n1b_v[STATE_W * j +: STATE_W]),
                    .i_new(n6_i[SYN_W * j +: SYN_W]),
                    .v_new(n6_v[STATE_W * j +: STATE_W]),
                    .spike(n6_spike[j])
                );
            end else begin : g_lif
                qsnn_neuron #(
                    .ACC_W(ACC_W), .MUL_W(MUL_W), .BIAS_W(BIAS_W), .PROD_W(PROD_W), .SHIFT(SHIFT), .CUR_W(CUR_W),
                    .STATE_W(STATE_W), .THRESH(THRESH), .DECAY_MULT(DECAY_MULT), .DM_W(DM_W),
                    .DECAY_SHIFT(DECAY_SHIFT), .RESET_ZERO(RESET_ZERO), .SATURATE(SATURATE)
                ) u_neuron (
                    .clk(clk),
                    .acc(n1b_accs[ACC_W * j +: ACC_W]),
                    .mult(n1b_rq[RQ_W * j +: MUL_W]),
                    .bias(n1b_rq[RQ_W * j + MUL_W +: BIAS_W]),
                    .v(n1_first ? {STATE_W{1'b0}} : n1b_v[STATE_W * j +: STATE_W]),
                    .v_new(n6_v[STATE_W * j +: STATE_W]),
                    .spike(n6_spike[j])
                );
                assign n6_i[SYN_W * j +: SYN_W] = {SYN_W{1'b0}};
            end
            if (SYN != 0) begin : g_trace_current
                assign n6_tr[TR_W * j +: TR_W] = {n6_i[SYN_W * j +: SYN_W], n6_v[STATE_W * j +: STATE_W]};
            end else begin : g_trace_membrane
                assign n6_tr[TR_W * j +: TR_W] = n6_v[STATE_W * j +: STATE_W];
            end
            /* verilator lint_off WIDTH */
            localparam [CNT_W-1:0] C_J = j;
            /* verilator lint_on WIDTH */
            assign n6_ok[j] = (n6_obase + C_J) <= C_OC_M1;  // padding channels of the last block are not neurons
        end
    endgenerate

    // ---------------------------------------------------------------- recurrent sums (REC)
    // Event-driven, like the synapse: every neuron that fired in this step's neuron phase is an event of the
    // next step (r_pend). After the neuron phase (N_REC) the sums are zeroed, then each event adds its row of
    // the transposed recurrent weight (NB words of NLANES weights, at a power-of-two stride so that the event's
    // first word is {j, 0}: no multiply after the find-first-set) one block per cycle; the layer is done when
    // the last event is in. The next neuron phase reads block b of the sums with its requantize word. A clear
    // (once per inference) zeroes the sums and the events: no spikes before step 0.
    // The sums live in a RAM of NB words (u_rsum), not in registers: NB registers read through two NB:1
    // multiplexers did not route on an ECP5-25F at NB = 256 (docs/targets/verilog.md). Zeroing a RAM takes
    // NB cycles, so each word has a valid bit instead (r_vld: all cleared at once, a word reads as zeros
    // until its first write). A block's read (weights and sums, issued with r_has) arrives in r1, is
    // registered in r2 (the block RAM's output is slow: 5.6 ns on an ECP5), and r2 adds and writes: the word
    // is new three cycles after its read was issued, and no read of it comes sooner (the next event's read of
    // block b is NB cycles later, and events are at least three cycles apart: the find-first-set's two
    // stages, below), so no read needs a forward.
    generate
        if (REC != 0) begin : g_rec
            localparam integer R_DEPTH = OC << NBW;  // NB words per event, at a power-of-two stride
            localparam integer R_AW = (R_DEPTH > 1) ? $clog2(R_DEPTH) : 1;
            localparam integer R_JW = (OC > 1) ? $clog2(OC) : 1;
            /* verilator lint_off WIDTH */
            localparam [NBW-1:0] R_NB_M1 = NB - 1;
            /* verilator lint_on WIDTH */
            reg  [OC-1:0]            r_pend;
            reg  [NB-1:0]            r_vld;    // word b of the sums was written since they were zeroed
            reg                      r_started, r_has, r1_valid, r2_valid;
            reg  [NBW-1:0]           r_b, r1_b, r2_b;
            reg  [R_AW-1:0]          r_raddr;  // the weight word read next (of the event taken, r_has)
            reg  [R_JW-1:0]          r_sel_j;  // the lowest pending event (two cycles after r_pend) ...
            reg                      r_sel_any;
            reg                      r_ok1;    // r_pend did not change in the last cycle
            reg                      r_sel_ok; // ... and r_pend has not changed in the two cycles since
            wire                     r_take;   // the next event is taken this cycle
            reg  [NLANES*RACC_W-1:0] r_sum;
            wire [NLANES*REC_WB-1:0] r_rdata;
            wire [NBW-1:0]           rs_raddr = (nstate == N_REC) ? r_b : rq_raddr;
            wire [NLANES*RACC_W-1:0] rs_rdata;  // the word read at rs_raddr in the cycle before
            reg                      rs_vld;    // its valid bit, read with it
            reg  [NLANES*RACC_W-1:0] r2_old;    // r2: the block's sums before this event (zeros if not valid)
            reg  [NLANES*REC_WB-1:0] r2_w;      // r2: the event's weights for the block
            integer k;
            // The lowest pending event in two registered stages, so that no cycle holds an OC-input priority
            // encoder (at OC = 256 one took 17 ns on an ECP5, as the one-hot x & -x with OR trees did): first
            // each group of R_G events says whether it has one and its lowest (r_gany, r_glow), then the lowest
            // group with one gives the event (r_sel_j). An event's NB cycles hide the two cycles when NB >= 3;
            // a layer of one or two blocks waits for them between events.
            localparam integer R_G = 16;  // events per group
            localparam integer R_NG = (OC + R_G - 1) / R_G;
            localparam integer R_NGW = (R_NG > 1) ? $clog2(R_NG) : 1;
            wire [R_NG*R_G-1:0] r_padded;
            /* verilator lint_off WIDTH */
            assign r_padded = r_pend;  // zero-extended: the padding events never fire
            /* verilator lint_on WIDTH */
            wire [R_NG-1:0]   r_gany;
            wire [4*R_NG-1:0] r_glow;
            genvar gg;
            for (gg = 0; gg < R_NG; gg = gg + 1) begin : g_group
                wire [R_G-1:0] bits = r_padded[R_G * gg +: R_G];
                reg  [3:0]     low, low_q;
                reg            any_q;
                integer        bi;
                always @* begin
                    low = 4'd0;
                    for (bi = R_G - 1; bi >= 0; bi = bi - 1)
                        if (bits[bi]) low = bi[3:0];
                end
                always @(posedge clk) {any_q, low_q} <= {|bits, low};
                assign r_gany[gg] = any_q;
                assign r_glow[4 * gg +: 4] = low_q;
            end
            reg [R_NGW-1:0] r_gsel;  // the lowest group with an event
            integer gi;
            always @* begin
                r_gsel = {R_NGW{1'b0}};
                for (gi = R_NG - 1; gi >= 0; gi = gi - 1)
                    if (r_gany[gi]) r_gsel = gi[R_NGW-1:0];
            end
            /* verilator lint_off WIDTH */
            wire [R_NGW+3:0] r_gj = {r_gsel, r_glow[4 * r_gsel +: 4]};  // group * 16 + its lowest, < OC
            /* verilator lint_on WIDTH */
            wire r_last_b = r_b == R_NB_M1;
            assign r_take = r_started && (!r_has || r_last_b) && r_sel_any && r_sel_ok;
            wire r_pend_moves = r_take || n6_valid || state == S_CLEAR || rst;  // r_pend changes at this edge
            qsnn_ram #(.WIDTH(NLANES * REC_WB), .DEPTH(R_DEPTH), .ADDR_W(R_AW), .INIT_FILE(REC_W_FILE)) u_rw (
                .clk(clk), .we(1'b0), .waddr({R_AW{1'b0}}), .wdata({(NLANES * REC_WB){1'b0}}), .raddr(r_raddr),
                .rdata(r_rdata)
            );
            qsnn_ram #(.WIDTH(NLANES * RMUL_W), .DEPTH(NB), .ADDR_W(NBW), .INIT_FILE(REC_M_FILE)) u_rm (
                .clk(clk), .we(1'b0), .waddr({NBW{1'b0}}), .wdata({(NLANES * RMUL_W){1'b0}}), .raddr(rq_raddr),
                .rdata(rm_rdata)
            );
            qsnn_ram #(.WIDTH(NLANES * RACC_W), .DEPTH(NB), .ADDR_W(NBW)) u_rsum (
                .clk(clk), .we(r2_valid), .waddr(r2_b), .wdata(r_sum), .raddr(rs_raddr), .rdata(rs_rdata)
            );
            always @* begin
                for (k = 0; k < NLANES; k = k + 1)
                    r_sum[RACC_W * k +: RACC_W] = r2_old[RACC_W * k +: RACC_W]
                        + {{(RACC_W - REC_WB){r2_w[REC_WB * k + REC_WB - 1]}}, r2_w[REC_WB * k +: REC_WB]};
            end
            // the neuron phase reads at rq_raddr (n_b) the cycle before n1, like the requantize ROM
            assign r_word = rs_vld ? rs_rdata : {(NLANES * RACC_W){1'b0}};
            assign rec_done = r_started && r_sel_ok && !r_sel_any && !r_has && !r1_valid && !r2_valid;
            always @(posedge clk) begin
                r1_valid <= 1'b0;
                rs_vld <= r_vld[rs_raddr];
                {r2_valid, r2_b, r2_w} <= {r1_valid, r1_b, r_rdata};
                r2_old <= rs_vld ? rs_rdata : {(NLANES * RACC_W){1'b0}};
                r_sel_j <= r_gj[R_JW-1:0];
                r_sel_any <= |r_gany;
                r_ok1 <= !r_pend_moves;  // r_sel_* see a change of r_pend two cycles later
                r_sel_ok <= r_ok1 && !r_pend_moves;
                if (r2_valid) r_vld[r2_b] <= 1'b1;
                if (nstate == N_REC) begin
                    if (!r_started) begin
                        r_started <= 1'b1;
                        r_has <= 1'b0;
                        r_vld <= {NB{1'b0}};  // every word of the sums reads as zeros
                    end else begin
                        // the read address is a register, loaded from the registered find-first-set
                        if (r_has) begin  // block r_b of the event's weights (and of the sums) is read
                            r1_valid <= 1'b1;
                            r1_b <= r_b;
                            r_raddr <= r_raddr + 1'b1;
                            r_b <= r_last_b ? {NBW{1'b0}} : r_b + 1'b1;
                            if (r_last_b) r_has <= 1'b0;
                        end
                        if (r_take) begin  // take the lowest pending event next
                            r_has <= 1'b1;
                            r_raddr <= {{(R_AW - R_JW - NBW){1'b0}}, r_sel_j, {NBW{1'b0}}};
                            r_b <= {NBW{1'b0}};
                            r_pend[r_sel_j] <= 1'b0;
                        end
                    end
                end else begin
                    r_started <= 1'b0;
                end
                if (n6_valid)
                    for (k = 0; k < NLANES; k = k + 1)
                        if (n6_ok[k] && n6_spike[k]) r_pend[n6_obase[R_JW-1:0] + k[R_JW-1:0]] <= 1'b1;
                if (state == S_CLEAR || rst) begin
                    r_pend <= {OC{1'b0}};
                    r_vld <= {NB{1'b0}};
                end
            end
        end else begin : g_no_rec
            assign r_word = {(NLANES * RACC_W){1'b0}};
            assign rm_rdata = {(NLANES * RMUL_W){1'b0}};
            assign rec_done = 1'b0;
        end
    endgenerate

    always @(posedge clk) begin
        done <= 1'b0;
        ndone <= 1'b0;
        m_we <= 1'b0;
        ev_valid <= 1'b0;
        tr_valid <= 1'b0;
        if (push_valid) q_count <= q_count + 1'b1;

        // ---------------- accumulate pipeline
        if (!hazard) begin
            a0_valid <= pr_valid;
            a0_addr <= pr_addr;
            a0_val <= pr_val;
            pr_valid <= 1'b0;
        end else begin
            a0_valid <= 1'b0;  // a bubble while pr waits
        end
        a1_valid <= a0_valid;
        a1_addr <= a0_addr;
        a1_val <= a0_val;
        a2_valid <= a1_valid;
        a2_addr <= a1_addr;
        a2_word <= a_rsums;
        a1_weights <= w_rdata;
        a2_weights <= a1_weights;
        fw_valid <= a2_valid;  // the accumulate write of this cycle (clears never meet an operation)
        fw_addr <= a2_addr;
        fw_data <= a2_new;

        // ---------------- event fetcher
        if (nd_take) nd_valid <= 1'b0;
        if (acc_phase) begin
            case (f_state)
                2'd0: if ((!nd_valid || nd_take) && !queue_empty) begin  // read event e (q_raddr = e)
                    e <= e + 1'b1;
                    f_state <= 2'd1;
                end
                2'd1: begin
                    ev_word <= q_rdata;
                    ev_left <= q_rdata[EVW-1 -: IN_NL];
                    f_state <= 2'd2;
                end
                default: if (!nd_valid || nd_take) begin
                    // decode the next spike of the mask; an event whose taps reach no kept output is dropped
                    nd_valid <= !dq_empty;
                    nd_val <= ev_word[XW + YW + CW +: VAL_W];
                    nd_cin <= {{(CNT_W - CW){1'b0}}, ev_word[XW + YW +: CW]} + mulc(f_bit, MASK_STRIDE);
                    {nd_ty, nd_tx, nd_u_lo, nd_u_hi, nd_v_lo, nd_v_hi} <= {dq_ty, dq_tx, dq_u_lo, dq_u_hi, dq_v_lo, dq_v_hi};
                    nd_phase <= dq_phase;
                    ev_left <= f_left;
                    if (f_left == {IN_NL{1'b0}}) f_state <= 2'd0;
                end
            endcase
        end
        if (nd_take) begin  // the next event starts
            {ev_val, ev_cin, ty, tx, phase} <= {nd_val, nd_cin, nd_ty, nd_tx, nd_phase};
            {u, u_hi, v, v_lo, v_hi, g} <= {nd_u_lo, nd_u_hi, nd_v_lo, nd_v_lo, nd_v_hi, C_ZERO};
        end

        // ---------------- neuron pipeline
        n1b_valid <= n1_valid;
        {n1b_read, n1b_wfirst} <= {n1_read, n1_wfirst};
        if (n1b_read) n1b_best <= n1b_accs;
        n1b_v <= m_rdata;
        n1b_rq <= rq_rdata;
        n1b_i <= s_rdata;
        n1b_ra <= r_word;
        n1b_rm <= rm_rdata;
        {n1b_blk, n1b_obase, n1b_y, n1b_x, n1b_k, n1b_index} <= {n1_blk, n1_obase, n1_y, n1_x, n1_k, n1_index};
        {n2_valid, n3_valid, n4_valid, n5_valid, n6_valid} <= {n1b_valid, n2_valid, n3_valid, n4_valid, n5_valid};
        {n2_obase, n2_y, n2_x, n2_k, n2_index} <= {n1b_obase, n1b_y, n1b_x, n1b_k, n1b_index};
        {n3_obase, n3_y, n3_x, n3_k, n3_index} <= {n2_obase, n2_y, n2_x, n2_k, n2_index};
        {n4_obase, n4_y, n4_x, n4_k, n4_index} <= {n3_obase, n3_y, n3_x, n3_k, n3_index};
        {n5_obase, n5_y, n5_x, n5_k, n5_index} <= {n4_obase, n4_y, n4_x, n4_k, n4_index};
        {n6_obase, n6_y, n6_x, n6_k, n6_index} <= {n5_obase, n5_y, n5_x, n5_k, n5_index};
        if (n6_valid) begin
            m_we <= 1'b1;
            m_waddr <= n6_k[M_AW-1:0];
            m_wdata <= n6_v;
            tr_valid <= 1'b1;
            tr_index <= n6_index[N_AW-1:0];
            tr_lanes <= n6_ok;
            tr_spikes <= n6_spike & n6_ok;
            tr_membranes <= n6_tr;
            s_wdata <= n6_i;
            ev_valid <= (n6_spike & n6_ok) != {NLANES{1'b0}};
            ev_mask <= n6_spike & n6_ok;
            ev_c <= (NEXT_FLAT != 0) ? n6_index[EC_W-1:0] : n6_obase[EC_W-1:0];
            ev_y <= (NEXT_FLAT != 0) ? {EY_W{1'b0}} : n6_y[EY_W-1:0];
            ev_x <= (NEXT_FLAT != 0) ? {EX_W{1'b0}} : n6_x[EX_W-1:0];
        end
        n1_valid <= n_issuing && n_last_w;  // a neuron block enters the neurons with its window's last word
        n1_read <= n_issuing;
        n1_wfirst <= n_w == C_ZERO;
        n_issuing <= 1'b0;

        case (state)
            S_IDLE: begin
                if (start_clear) begin
                    state <= S_CLEAR;
                    clr_addr <= {A_AW{1'b0}};
                    q_count <= {Q_CW{1'b0}};
                end else if (start_acc) begin
                    e <= {Q_CW{1'b0}};
                    f_state <= 2'd0;
                    nd_valid <= 1'b0;
                    state <= S_NEXT;
                end
            end
            S_CLEAR: begin  // one word per cycle (a_we above)
                clr_addr <= clr_addr + 1'b1;
                if ({{(CNT_W - A_AW){1'b0}}, clr_addr} == C_ADEPTH_M1) begin
                    state <= S_IDLE;
                    done <= 1'b1;
                end
            end
            S_NEXT: begin  // wait for the fetcher; at the end of the queue, wait while events may still come
                if (nd_valid) begin
                    state <= S_RUN;
                end else if (f_state == 2'd0 && queue_empty && !upstream_busy) begin
                    state <= S_DRAIN;
                end
            end
            S_RUN: if (!hazard) begin
                pr_valid <= 1'b1;
                pr_addr <= run_aaddr[A_AW-1:0];
                pr_waddr <= run_waddr[W_AW-1:0];
                pr_val <= ev_val;
                if (!run_last_op) begin
                    g <= run_last_g ? C_ZERO : g + C_ONE;
                    if (run_last_g) v <= run_last_v ? v_lo : v + C_S;
                    if (run_last_v) u <= u + C_S;
                end else if (!nd_valid) begin
                    state <= S_NEXT;  // else nd_take (above) starts the next event in the next cycle
                end
            end
            S_DRAIN: begin  // the last writes leave the pipeline
                if (!acc_busy) begin
                    q_count <= {Q_CW{1'b0}};
                    state <= S_IDLE;
                    done <= 1'b1;
                end
            end
            default: state <= S_IDLE;
        endcase

        case (nstate)
            N_IDLE: if (start_neuron) begin
                nstate <= (HOLD > 1) ? N_FILL : N_NEURON;
                n_issuing <= HOLD == 1;
                n_fill <= C_ZERO;
                {n_p, n_y, n_x, n_b, n_obase, n_k, n_index, n_abase, n_w, n_wy, n_wx} <= {11{C_ZERO}};
                {n_last_b_q, n_blk_last_q, n_last_p_q} <= {NLB0 != 0, NBL0 != 0, NLP0 != 0};
                n1_first <= first_step;
            end
            N_FILL: begin  // the reads ahead (n_rd_next), then the first block
                n_fill <= n_fill + C_ONE;
                if (n_fill == C_HOLD_M2) begin
                    nstate <= N_NEURON;
                    n_issuing <= 1'b1;
                end
            end
            N_NEURON: begin
                if (n_issuing) begin
                    // n_clear zeroes each accumulator word with its last read (which still sees the old word)
                    {n1_blk, n1_obase, n1_y, n1_x, n1_k, n1_index} <= {n_blk, n_obase, n_y, n_x, n_k, n_index};
                    if (n_last) begin
                        n_issuing <= 1'b0;
                    end else if (!n_last_w) begin  // the next word of the window (max pool)
                        n_issuing <= 1'b1;
                        n_w <= n_w + C_ONE;
                        n_wx <= (n_wx == C_PK_M1) ? C_ZERO : n_wx + C_ONE;
                        if (n_wx == C_PK_M1) n_wy <= n_wy + C_ONE;
                    end else begin
                        {n_w, n_wy, n_wx} <= {3{C_ZERO}};
                        n_issuing <= 1'b1;
                        n_k <= n_k + C_ONE;
                        if (n_last_b) begin
                            n_b <= C_ZERO;
                            {n_last_b_q, n_blk_last_q} <= {NLB0 != 0, NBL0 != 0};
                            n_obase <= C_ZERO;
                            n_p <= n_p + C_ONE;
                            n_last_p_q <= nx_last_p;
                            n_index <= n_p + C_ONE;
                            n_abase <= n_abase + C_G;
                            n_x <= (n_x == C_OW_M1) ? C_ZERO : n_x + C_ONE;
                            if (n_x == C_OW_M1) n_y <= n_y + C_ONE;
                        end else begin
                            n_b <= n_b + C_ONE;
                            n_last_b_q <= nx_last_b;
                            n_blk_last_q <= nx_blk_last;
                            n_obase <= n_obase + C_NL;
                            n_index <= n_index + C_NLPOS;
                        end
                    end
                end else if (!neuron_busy) begin
                    nstate <= (REC != 0) ? N_REC : N_IDLE;  // REC: the recurrent sums of the next step first
                    ndone <= REC == 0;
                end
            end
            N_REC: if (rec_done) begin
                nstate <= N_IDLE;
                ndone <= 1'b1;
            end
            default: nstate <= N_IDLE;
        endcase

        if (rst) begin
            state <= S_IDLE;
            nstate <= N_IDLE;
            ndone <= 1'b0;
            q_count <= {Q_CW{1'b0}};
            pr_valid <= 1'b0;
            a0_valid <= 1'b0;
            a1_valid <= 1'b0;
            fw_valid <= 1'b0;
            a2_valid <= 1'b0;
            n_issuing <= 1'b0;
            n1_valid <= 1'b0;
            n1_read <= 1'b0;
            n1b_valid <= 1'b0;
            n1b_read <= 1'b0;
            n2_valid <= 1'b0;
            n3_valid <= 1'b0;
            n4_valid <= 1'b0;
            n5_valid <= 1'b0;
            n6_valid <= 1'b0;
            m_we <= 1'b0;
            done <= 1'b0;
            ev_valid <= 1'b0;
            tr_valid <= 1'b0;
        end
    end
endmodule

`default_nettype wire
