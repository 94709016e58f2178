// qsnn_serial.v - the serial organisation of the qsnn-deploy Verilog target (docs/targets/verilog.md#serial):
// one engine walks the layers in turn, for the smallest parts (iCE40 UP5K). Where the layered design
// (qsnn_layer.v) gives every layer its own memories, control and neuron lanes, here every layer shares
//
//   - one store, single-ported (qsnn_spram: UP5K SPRAM, which the bitstream cannot initialise), SW bits wide:
//     the packed weights of every layer (words 0 .. W_DEPTH-1, LANES output channels of WB bits per word),
//     loaded after reset over the input stream (LD_BYTES bytes per word, low byte first: no pins of its own,
//     the UP5K's SG48 has 39), then the membranes, two per word (a pair), from word W_DEPTH on. The weights
//     are read in the accumulate phase, the membranes in the neuron phase, so the two share the one port;
//   - one accumulator memory (block RAM, one read and one write port): LANES lanes of ACC_W bits per word;
//   - one requantize ROM (block RAM), one spike bitmap (block RAM) and its group flags (a bit per 16 bitmap
//     bits: set when one of them is a spike), with which the scan of a linear layer's input skips a group of
//     16 silent inputs in 3 cycles;
//   - one input cursor, one tap walker (the accumulate phase) and one neuron unit (qsnn_sneuron, the neuron
//     phase).
//
// The generated top level holds the per-layer constants as a table indexed by `layer` (the d_* inputs).
//
// After reset: load (W_DEPTH words). One inference: clear (membranes and accumulators), then per step and for each
// layer L: acc(L) (layer 0: the input bytes as they arrive, every step for a stream input, step 0 only for a
// static one; layer L > 0: a scan of the spike bitmap that neuron(L-1) wrote), neuron(L) (every neuron of L:
// requantize, LIF, its spike into the bitmap, or into the output beat for the last layer); then the step's
// output beat, with the class after the last step.
//
// acc: an input (c, y, x) with value `val` (a pixel, or 1 for a spike) adds, for every walked tap whose output
// is a kept output and every group g of LANES output channels, val * weight word to the accumulator word of
// that output's pooled position, group g. A layer is walked one of two ways (d_fold):
//   - unfolded: the conv's taps (kh, kw); the conv output (oy, ox) = (y + PAD - kh, x + PAD - kw), kept when
//     inside OUT << POOL, adds into pooled word (oy >> POOL, ox >> POOL);
//   - folded (a fused 2^L x 2^L sum pool folded into the kernel, layout.fold_kernel): the input at padded
//     (ty, tx) = (qy 2^L + ry, qx 2^L + rx) reaches pooled output (qy - a, qx - b) through the folded tap
//     (a, b) of its phase (ry, rx), a tap whose weight is the sum of the conv taps it stands for: about
//     2^(2L) times fewer operations per input, with wider weights (WB bits).
// One operation per cycle (a tap outside the kept outputs costs a cycle, a row of them one cycle); the weights
// of one input are consecutive words. An operation waits while an operation on the same word is still in the
// 2-stage pipeline.
// neuron: position-major, channel inner, one neuron per cycle: the store's one port reads a pair of membranes
// in one cycle and, in the other, writes back the pair the unit finished.
`default_nettype none

module qsnn_serial #(
    parameter integer NUM_LAYERS = 1,
    parameter integer LANES = 4,        // output channels per operation: 4, 8 or 16
    parameter integer LANE_W = 2,       // log2(LANES)
    parameter integer LW = 1,           // layer index width
    parameter integer STATIC = 1,       // 1: one frame per inference; 0: one frame per step
    parameter integer NUM_CLASSES = 2,
    parameter integer CLASS_W = 1,
    parameter integer STEPS_W = 16,
    // the walk: input coordinates (padded), kernel taps, groups (widths over every layer)
    parameter integer CW = 1,           // input channel index (a linear layer's flat input index)
    parameter integer TW = 2,           // padded coordinate y + PAD, x + PAD, and walked output coordinate, signed
    parameter integer KW_W = 1,         // walked tap index
    parameter integer G_W = 1,          // group index
    parameter integer PM_W = 1,         // pool mask (2^POOL - 1)
    parameter integer WB = 4,           // bits of one weight in a word: 4, or what a folded layer's sums need
    // memories
    parameter integer ACC_W = 8,        // one accumulator lane
    parameter integer ACC_AW = 1,
    parameter integer ACC_DEPTH = 2,
    parameter integer W_AW = 1,         // a weight word's address
    parameter integer W_DEPTH = 2,      // weight words (the load port takes this many)
    parameter integer SW = 32,          // store word: max(LANES * WB, 2 * STATE_W)
    parameter integer S_AW = 2,         // store address (weights, then membrane pairs)
    parameter integer S_DEPTH = 4,
    parameter integer RQ_AW = 1,
    parameter integer RQ_DEPTH = 2,
    parameter RQ_FILE = "",
    parameter integer M_DEPTH = 2,      // membrane pairs
    parameter integer B_AW = 1,
    parameter integer B_DEPTH = 2,
    parameter integer F_AW = 1,         // a group flag's address: the bitmap address without its 4 low bits
    parameter integer F_DEPTH = 2,
    // the neuron phase
    parameter integer P_W = 1,          // position index
    parameter integer OC_W = 1,         // channel index
    parameter integer N_AW = 1,         // flat neuron index (the trace's)
    // the neuron unit (qsnn_sneuron)
    parameter integer MUL_W = 32,
    parameter integer BIAS_W = 32,
    parameter integer PROD_W = 48,
    parameter integer CUR_W = 32,
    parameter integer STATE_W = 32,
    parameter integer DM_W = 16,
    parameter integer SH_MIN = 0,
    parameter integer SH_LV = 0,
    parameter integer DSH_MIN = 0,
    parameter integer DSH_LV = 0,
    parameter integer SATURATE = 0,
    parameter integer NEURON_LAT = 5    // qsnn_sneuron's latency
) (
    input  wire                    clk,
    input  wire                    rst,
    input  wire [STEPS_W-1:0]      num_steps,
    input  wire                    in_valid,
    output wire                    in_ready,
    input  wire [7:0]              in_data,
    output wire                    out_valid,
    input  wire                    out_ready,
    output reg  [NUM_CLASSES-1:0]  out_spikes,
    output wire                    out_last,
    output reg  [CLASS_W-1:0]      out_class,
    output wire                    busy,
    output wire                    tr_valid,
    output wire [LW-1:0]           tr_layer,
    output wire [N_AW-1:0]         tr_index,
    output wire                    tr_spike,
    output wire [STATE_W-1:0]      tr_membrane,
    // the layer table
    output reg  [LW-1:0]           layer,
    input  wire [CW-1:0]           d_c_last,      // IN_C - 1
    input  wire [TW-1:0]           d_ty_last,     // IN_H - 1 + PAD
    input  wire [TW-1:0]           d_tx_last,     // IN_W - 1 + PAD
    input  wire [TW-1:0]           d_pad,
    input  wire                    d_fold,        // 1: the pool is folded into the kernel
    input  wire [TW-1:0]           d_o0,          // the walk's first output coordinate: PAD (folded: PAD >> POOL)
    input  wire [KW_W-1:0]         d_kh_last,     // walked taps - 1 (KH, or the folded kernel's FKH)
    input  wire [KW_W-1:0]         d_kw_last,
    input  wire [PM_W-1:0]         d_pool_mask,
    input  wire [TW-1:0]           d_ohp,         // kept rows of the walk: OUT_H << POOL (folded: OUT_H)
    input  wire [TW-1:0]           d_owp,
    input  wire [G_W-1:0]          d_g_last,      // GROUPS - 1
    input  wire [ACC_AW-1:0]       d_g,           // GROUPS
    input  wire [ACC_AW-1:0]       d_owg,         // OUT_W * GROUPS
    input  wire [ACC_AW-1:0]       d_row0,        // (PAD >> POOL) * OUT_W * GROUPS
    input  wire [ACC_AW-1:0]       d_col0,        // (PAD >> POOL) * GROUPS
    input  wire [ACC_AW-1:0]       d_acc_base,
    input  wire [W_AW-1:0]         d_w_base,
    input  wire [W_AW-1:0]         d_wc,          // weight words of one input channel (folded: of one phase)
    input  wire [W_AW-1:0]         d_wkw,         // of one walked row: taps * GROUPS
    input  wire [W_AW-1:0]         d_wg,          // of one tap: GROUPS
    input  wire [W_AW-1:0]         d_wpx,         // folded: of one column phase (C * d_wc), else 0
    input  wire [W_AW-1:0]         d_wpy,         // folded: of one row phase (2^POOL * d_wpx), else 0
    input  wire [W_AW-1:0]         d_wx0,         // folded: the phase offset of column PAD, else 0
    input  wire [W_AW-1:0]         d_wy0,         // folded: of row PAD, else 0
    input  wire                    d_skip,        // a linear layer fed by the bitmap: skip silent groups
    input  wire [W_AW-1:0]         d_w16,         // its weight words of 16 inputs: 16 * d_wc
    input  wire [P_W-1:0]          d_pos_last,    // OUT_H * OUT_W - 1
    input  wire [OC_W-1:0]         d_oc_last,     // OC - 1
    input  wire [N_AW-1:0]         d_hw,          // OUT_H * OUT_W
    input  wire [RQ_AW-1:0]        d_rq_base,
    input  wire [S_AW-1:0]         d_m_base,      // the layer's first membrane pair in the store
    input  wire [STATE_W-1:0]      d_thresh,
    input  wire [DM_W-1:0]         d_dmult,
    input  wire [((SH_LV > 0) ? SH_LV : 1)-1:0]   d_shift_rel,
    input  wire [((DSH_LV > 0) ? DSH_LV : 1)-1:0] d_dshift_rel,
    input  wire                    d_reset_zero,
    input  wire                    d_sat,
    input  wire [STATE_W-1:0]      d_smax
);
    localparam integer AWORD = LANES * ACC_W;
    localparam integer WW = WB * LANES;          // weight word
    localparam integer LD_BYTES = (WW + 7) / 8;  // load: bytes per weight word
    /* verilator lint_off WIDTH */
    localparam [3:0] LD_LAST = LD_BYTES - 1;
    localparam [LANE_W-1:0] LANE_LAST = LANES - 1;
    /* verilator lint_on WIDTH */
    localparam integer RQ_W = MUL_W + BIAS_W;
    // the clear / load counter: one more bit than the widest of the memories' addresses
    localparam integer CLR_W = ((ACC_AW > S_AW) ? ACC_AW : S_AW) + 1;
    localparam integer CLR_N0 = (ACC_DEPTH > M_DEPTH) ? ACC_DEPTH : M_DEPTH;
    localparam integer CLR_N = (CLR_N0 > F_DEPTH) ? CLR_N0 : F_DEPTH;
    /* verilator lint_off WIDTH */
    localparam [CLR_W-1:0] ACC_N = ACC_DEPTH, M_N = M_DEPTH, F_N = F_DEPTH, W_LAST = W_DEPTH - 1,
                           CLR_LAST = CLR_N - 1;
    localparam [S_AW-1:0] M_FIRST = W_DEPTH;     // the first membrane pair's word
    localparam [CLASS_W-1:0] CLASS_LAST = NUM_CLASSES - 1;
    localparam [LW-1:0] LAST_LAYER = NUM_LAYERS - 1;
    /* verilator lint_on WIDTH */
    localparam [2:0] S_LOAD = 3'd0, S_IDLE = 3'd1, S_CLEAR = 3'd2, S_ACC = 3'd3, S_NEURON = 3'd4,
                     S_ARGMAX = 3'd5, S_OUT = 3'd6;
    reg [2:0]          state;
    reg [STEPS_W-1:0]  steps_left;
    reg [CLR_W-1:0]    clr;             // clear / load address
    reg [3:0]          ld_n;            // load: bytes of the word taken so far
    reg [8*LD_BYTES-9:0] ld_buf;        // and those bytes, the first one lowest
    wire [8*LD_BYTES-1:0] ld_word = {in_data, ld_buf};
    reg                phase_go;        // the first cycle of a phase: its counters start

    // ---------------------------------------------------------------- memories
    wire               s_we;
    wire [S_AW-1:0]    s_addr;
    reg  [SW-1:0]      s_wdata;
    wire [SW-1:0]      s_rdata;
    qsnn_spram #(.WIDTH(SW), .DEPTH(S_DEPTH), .ADDR_W(S_AW)) u_store (
        .clk(clk), .we(s_we), .addr(s_addr), .wdata(s_wdata), .rdata(s_rdata));
    wire [WW-1:0]      w_rdata = s_rdata[WW-1:0];

    reg                acc_we;
    reg [ACC_AW-1:0]   acc_waddr;
    reg [AWORD-1:0]    acc_wdata;
    wire [ACC_AW-1:0]  acc_raddr;
    wire [AWORD-1:0]   acc_rdata;
    qsnn_ram #(.WIDTH(AWORD), .DEPTH(ACC_DEPTH), .ADDR_W(ACC_AW)) u_acc (
        .clk(clk), .we(acc_we), .waddr(acc_waddr), .wdata(acc_wdata), .raddr(acc_raddr), .rdata(acc_rdata));

    wire [RQ_AW-1:0]   rq_raddr;
    wire [RQ_W-1:0]    rq_rdata;
    qsnn_ram #(.WIDTH(RQ_W), .DEPTH(RQ_DEPTH), .ADDR_W(RQ_AW), .INIT_FILE(RQ_FILE)) u_rq (
        .clk(clk), .we(1'b0), .waddr({RQ_AW{1'b0}}), .wdata({RQ_W{1'b0}}), .raddr(rq_raddr), .rdata(rq_rdata));

    wire               b_we;
    wire [B_AW-1:0]    b_waddr;
    wire               b_wdata;
    wire [B_AW-1:0]    b_raddr;
    wire               b_rdata;
    qsnn_ram #(.WIDTH(1), .DEPTH(B_DEPTH), .ADDR_W(B_AW)) u_bitmap (
        .clk(clk), .we(b_we), .waddr(b_waddr), .wdata(b_wdata), .raddr(b_raddr), .rdata(b_rdata));

    reg                f_we;
    reg [F_AW-1:0]     f_waddr;
    reg                f_wdata;
    wire [F_AW-1:0]    f_raddr;
    wire               f_rdata;
    qsnn_ram #(.WIDTH(1), .DEPTH(F_DEPTH), .ADDR_W(F_AW)) u_flags (
        .clk(clk), .we(f_we), .waddr(f_waddr), .wdata(f_wdata), .raddr(f_raddr), .rdata(f_rdata));

    // ---------------------------------------------------------------- input cursor (acc phase)
    // (c, ty, tx) of the next input, in (C, H, W) order; cu_oy / cu_ox: the walk's first output coordinate
    // (ty, or ty >> POOL when folded); cu_row / cu_col: the accumulator offsets of the pooled position
    // (ty >> POOL, tx >> POOL); cu_w: the weight words of channel c; cu_wy / cu_wx: its phase's offset.
    reg [CW-1:0]       cu_c;
    reg [TW-1:0]       cu_ty, cu_tx, cu_oy, cu_ox;
    reg [ACC_AW-1:0]   cu_row, cu_col;
    reg [W_AW-1:0]     cu_w, cu_wy, cu_wx;
    reg [B_AW-1:0]     cu_i;            // the flat index (bitmap address)
    reg                cu_end;          // every input taken
    // The cursor runs ahead of the walker, one input per cycle, into two stages: `a`, the input taken last
    // cycle, whose bitmap bit (or pixel) is known this cycle, and a queue of two events waiting for the walker.
    // It takes an input only when the queue is sure to have room for it: fewer than two events queued, counting
    // the one in `a` as an event (a lookahead on registers only, so the cursor's enable does not wait for the
    // bitmap's output; it costs a cycle after an event where the walker is idle).
    reg                a_v;
    reg [7:0]          a_val;
    reg [TW-1:0]       a_oy, a_ox;
    reg [ACC_AW-1:0]   a_rc;            // its accumulator word of tap (0, 0), group 0
    reg [W_AW-1:0]     a_w;             // its weight word of tap (0, 0), group 0
    reg                e0_v, e1_v;
    reg [7:0]          e0_val, e1_val;
    reg [TW-1:0]       e0_oy, e0_ox, e1_oy, e1_ox;
    reg [ACC_AW-1:0]   e0_rc, e1_rc;
    reg [W_AW-1:0]     e0_w, e1_w;

    wire acc_phase = state == S_ACC && !phase_go;
    wire from_input = layer == {LW{1'b0}};
    wire a_event = a_v && (from_input ? a_val != 8'd0 : b_rdata);
    wire room = !e0_v || (!e1_v && !a_v);
    // the cursor's enables from registers only: the phase (input or bitmap) and the layer's skipping, set with
    // the phase's counters; at its end the cursor stops on cu_end until the next phase sets them again
    reg in_on, scan_on, skip_on, cu_first;
    always @(posedge clk) begin
        if (rst) begin
            in_on <= 1'b0;
            scan_on <= 1'b0;
        end else if (phase_go) begin
            in_on <= state == S_ACC && from_input;
            scan_on <= state == S_ACC && !from_input;
        end
        if (phase_go) skip_on <= d_skip;
    end
    wire frame_ready = in_on && !cu_end && room;
    assign in_ready = frame_ready || state == S_LOAD;
    wire frame_fire = in_valid && frame_ready;
    // Group flags: at the first input of a group of 16, a skipping layer's cursor waits until the flag of the
    // group has come out of the memory and through a register (f_seen2: it has not moved for two cycles), then
    // skips the group (no spike in it) or scans it bit by bit. Every scan clears the flags it passes.
    localparam integer BX = (B_AW > 4) ? B_AW : 5;        // the bitmap address, at least one group bit
    localparam integer CX = ((CW > 4) ? CW : 4) + 1;      // a channel index plus 16
    reg [BX-1:0]       cu_ix;
    reg [CX-1:0]       cu_cx, c_last_x;
    always @* begin
        cu_ix = {BX{1'b0}};
        cu_ix[B_AW-1:0] = cu_i;
        cu_cx = {CX{1'b0}};
        cu_cx[CW-1:0] = cu_c;
        c_last_x = {CX{1'b0}};
        c_last_x[CW-1:0] = d_c_last;
    end
    /* verilator lint_off WIDTH */
    localparam [BX-1:0] B16 = 16;
    localparam [CX-1:0] C16 = 16, C15 = 15;
    /* verilator lint_on WIDTH */
    /* verilator lint_off UNUSED */
    wire [BX-1:0] cu_i16 = cu_ix + B16;
    wire [CX-1:0] cu_c16 = cu_cx + C16;
    /* verilator lint_on UNUSED */
    wire group_has_last = (cu_cx | C15) >= c_last_x;
    wire f_first = cu_first;  // cu_i is a multiple of 16
    reg f_seen1, f_seen2, f_reg;
    wire f_gate = skip_on && f_first && !(f_seen2 && f_reg);   // hold: flag not known yet, or a silent group
    wire f_skip = scan_on && !cu_end && skip_on && f_first && f_seen2 && !f_reg;
    wire scan_adv = scan_on && !cu_end && room && !f_gate;
    wire cu_adv = frame_fire || scan_adv;
    wire cu_move = cu_adv || f_skip;
    assign b_raddr = cu_i;
    assign f_raddr = cu_ix[F_AW+3:4];
    always @(posedge clk) begin
        f_seen1 <= !cu_move && !phase_go;
        f_seen2 <= f_seen1 && !cu_move && !phase_go;
        f_reg <= f_rdata;
    end
    // whether the cursor is on the last column, row, channel: registers, compared as the cursor moves (the table
    // is a multiplexer of `layer`; its compares stay off the cursor's enables)
    reg tx_last, ty_last, c_last;
    wire [TW-1:0] tx_next = cu_tx + 1'b1, ty_next = cu_ty + 1'b1;
    wire tx_wrap = (tx_next[PM_W-1:0] & d_pool_mask) == {PM_W{1'b0}};  // a new pooled column
    wire ty_wrap = (ty_next[PM_W-1:0] & d_pool_mask) == {PM_W{1'b0}};

    always @(posedge clk) begin
        if (phase_go) begin
            cu_c <= {CW{1'b0}};
            cu_ty <= d_pad;
            cu_tx <= d_pad;
            cu_oy <= d_o0;
            cu_ox <= d_o0;
            cu_row <= d_row0;
            cu_col <= d_col0;
            cu_w <= d_w_base;
            cu_wy <= d_wy0;
            cu_wx <= d_wx0;
            cu_i <= {B_AW{1'b0}};
            cu_first <= 1'b1;
            cu_end <= 1'b0;
            tx_last <= d_pad == d_tx_last;
            ty_last <= d_pad == d_ty_last;
            c_last <= d_c_last == {CW{1'b0}};
        end else if (f_skip) begin
            cu_i <= cu_i16[B_AW-1:0];
            cu_c <= cu_c16[CW-1:0];
            c_last <= cu_c16 == c_last_x;
            cu_w <= cu_w + d_w16;
            if (group_has_last) cu_end <= 1'b1;
        end else if (cu_adv) begin
            cu_i <= cu_i + 1'b1;
            cu_first <= cu_ix[3:0] == 4'hf;
            tx_last <= (tx_last ? d_pad : tx_next) == d_tx_last;
            if (tx_last) ty_last <= (ty_last ? d_pad : ty_next) == d_ty_last;
            if (tx_last && ty_last) c_last <= cu_c + 1'b1 == d_c_last;
            if (!tx_last) begin
                cu_tx <= tx_next;
                if (!d_fold || tx_wrap) cu_ox <= cu_ox + 1'b1;
                if (tx_wrap) begin
                    cu_col <= cu_col + d_g;
                    cu_wx <= {W_AW{1'b0}};
                end else begin
                    cu_wx <= cu_wx + d_wpx;
                end
            end else begin
                cu_tx <= d_pad;
                cu_ox <= d_o0;
                cu_col <= d_col0;
                cu_wx <= d_wx0;
                if (!ty_last) begin
                    cu_ty <= ty_next;
                    if (!d_fold || ty_wrap) cu_oy <= cu_oy + 1'b1;
                    if (ty_wrap) begin
                        cu_row <= cu_row + d_owg;
                        cu_wy <= {W_AW{1'b0}};
                    end else begin
                        cu_wy <= cu_wy + d_wpy;
                    end
                end else begin
                    cu_ty <= d_pad;
                    cu_oy <= d_o0;
                    cu_row <= d_row0;
                    cu_wy <= d_wy0;
                    if (!c_last) begin
                        cu_c <= cu_c + 1'b1;
                        cu_w <= cu_w + d_wc;
                    end else begin
                        cu_end <= 1'b1;
                    end
                end
            end
        end
    end

    // the event queue: `a` enters it when its bit (or pixel) says it is an event; the walker takes its head
    wire start_walk;
    always @(posedge clk) begin
        a_v <= !rst && !phase_go && cu_adv;
        if (cu_adv) begin
            a_val <= from_input ? in_data : 8'd1;
            a_oy <= cu_oy;
            a_ox <= cu_ox;
            a_rc <= d_acc_base + cu_row + cu_col;
            a_w <= cu_w + cu_wy + cu_wx;
        end
        if (rst || phase_go) begin
            e0_v <= 1'b0;
            e1_v <= 1'b0;
        end else begin
            if (start_walk) begin  // the head leaves; the second moves up, or `a` takes its place
                e0_v <= e1_v || a_event;
                e1_v <= e1_v && a_event;
                if (e1_v) begin
                    e0_val <= e1_val; e0_oy <= e1_oy; e0_ox <= e1_ox; e0_rc <= e1_rc; e0_w <= e1_w;
                end else begin
                    e0_val <= a_val; e0_oy <= a_oy; e0_ox <= a_ox; e0_rc <= a_rc; e0_w <= a_w;
                end
                if (e1_v && a_event) begin
                    e1_val <= a_val; e1_oy <= a_oy; e1_ox <= a_ox; e1_rc <= a_rc; e1_w <= a_w;
                end
            end else if (a_event) begin
                if (!e0_v) begin
                    e0_v <= 1'b1;
                    e0_val <= a_val; e0_oy <= a_oy; e0_ox <= a_ox; e0_rc <= a_rc; e0_w <= a_w;
                end else begin
                    e1_v <= 1'b1;
                    e1_val <= a_val; e1_oy <= a_oy; e1_ox <= a_ox; e1_rc <= a_rc; e1_w <= a_w;
                end
            end
        end
    end

    // ---------------------------------------------------------------- tap walker
    // (oy, ox): the walked output of the current tap; wk_rc: its accumulator word (group 0), kept as the taps
    // move, and wk_rrc the word of the row's first tap; whether the row and the column are kept outputs is
    // worked out as they change, so an operation's cycle holds one add (the group) and the hazard compare.
    // Unfolded, the pooled word moves when the conv output crosses into another pooled row or column; folded,
    // every walked output is a pooled one.
    reg                wk_busy;
    reg [7:0]          wk_val;
    reg [TW-1:0]       wk_oy, wk_ox, wk_ox0;
    reg                wk_rok, wk_cok, wk_cok0;
    reg [KW_W-1:0]     wk_kh, wk_kw;
    reg [G_W-1:0]      wk_g;
    reg [ACC_AW-1:0]   wk_rc, wk_rrc;
    reg [W_AW-1:0]     wk_w;
    assign start_walk = e0_v && !wk_busy;
    function in_rows;
        input [TW-1:0] v;
        in_rows = !v[TW-1] && $signed(v) < $signed(d_ohp);
    endfunction
    function in_cols;
        input [TW-1:0] v;
        in_cols = !v[TW-1] && $signed(v) < $signed(d_owp);
    endfunction
    wire [PM_W-1:0] walk_mask = d_fold ? {PM_W{1'b0}} : d_pool_mask;
    wire [TW-1:0] oy_next = wk_oy - 1'b1, ox_next = wk_ox - 1'b1;
    wire row_ok = wk_rok, col_ok = wk_cok;
    wire [ACC_AW-1:0] op_addr = wk_rc + {{(ACC_AW - G_W){1'b0}}, wk_g};
    // the accumulate pipeline: 1 = the word read, 2 = the sum written
    reg                a1_v, a2_v;
    reg [ACC_AW-1:0]   a1_addr, a2_addr;
    reg [G_W-1:0]      a1_g, a2_g;
    reg [7:0]          a1_val;
    // word p*G + g is one (p, g): an operation waits while one on its group is in the pipeline, whatever its
    // position (a wait more than needed, but no compare of word addresses on the walker's enable). With three
    // groups or more the groups of consecutive operations differ and nothing waits; a layer of one or two
    // groups waits up to two cycles an operation.
    wire hazard = (a1_v && a1_g == wk_g) || (a2_v && a2_g == wk_g);
    wire op_issue = wk_busy && row_ok && col_ok && !hazard;
    wire kw_end = wk_kw == d_kw_last, kh_end = wk_kh == d_kh_last, g_end = wk_g == d_g_last;
    // the walker moves on: a skipped row, a skipped tap, or an operation issued
    wire wk_step = wk_busy && (!row_ok || !col_ok || !hazard);
    wire next_tap = !row_ok || !col_ok || g_end;
    wire next_row = !row_ok || kw_end;
    wire [ACC_AW-1:0] rrc_next = ((wk_oy[PM_W-1:0] & walk_mask) == {PM_W{1'b0}}) ? wk_rrc - d_owg : wk_rrc;

    always @(posedge clk) begin
        if (rst || phase_go) begin
            wk_busy <= 1'b0;
        end else if (start_walk) begin
            wk_busy <= 1'b1;
            wk_val <= e0_val;
            wk_oy <= e0_oy;
            wk_ox <= e0_ox;
            wk_ox0 <= e0_ox;
            wk_rok <= in_rows(e0_oy);
            wk_cok <= in_cols(e0_ox);
            wk_cok0 <= in_cols(e0_ox);
            wk_kh <= {KW_W{1'b0}};
            wk_kw <= {KW_W{1'b0}};
            wk_g <= {G_W{1'b0}};
            wk_rc <= e0_rc;
            wk_rrc <= e0_rc;
            wk_w <= e0_w;
        end else if (wk_step) begin
            if (!row_ok) wk_w <= wk_w + d_wkw;
            else if (!col_ok) wk_w <= wk_w + d_wg;
            else wk_w <= wk_w + 1'b1;
            wk_g <= next_tap ? {G_W{1'b0}} : wk_g + 1'b1;
            if (next_tap) begin
                if (next_row) begin
                    wk_kw <= {KW_W{1'b0}};
                    wk_ox <= wk_ox0;
                    wk_cok <= wk_cok0;
                    if (kh_end) begin
                        wk_busy <= 1'b0;
                    end else begin
                        wk_kh <= wk_kh + 1'b1;
                        wk_oy <= oy_next;
                        wk_rok <= in_rows(oy_next);
                        wk_rrc <= rrc_next;
                        wk_rc <= rrc_next;
                    end
                end else begin
                    wk_kw <= wk_kw + 1'b1;
                    wk_ox <= ox_next;
                    wk_cok <= in_cols(ox_next);
                    if ((wk_ox[PM_W-1:0] & walk_mask) == {PM_W{1'b0}}) wk_rc <= wk_rc - d_g;
                end
            end
        end
    end

    // stage 1: the weight word and the accumulator word arrive; val * weight per lane (shifts and adds, so
    // no multiplier block is spent on it); stage 2: the add, written back
    localparam integer PR_W = 8 + WB + 1;  // an 8-bit value times a signed WB-bit weight
    localparam integer PX_W = ((ACC_W > PR_W) ? ACC_W : PR_W) + 1;  // a sign replication of at least one bit
    // the partial products v << b of the weight's bits (the top one negative), summed pairwise: a tree of
    // ceil(log2 WB) adders rather than a chain of WB - 1
    function [PR_W-1:0] wprod;
        input [7:0] v;
        input [WB-1:0] w;
        integer b, span;
        reg [WB*PR_W-1:0] t;
        begin
            for (b = 0; b < WB; b = b + 1) begin
                t[PR_W*b +: PR_W] = w[b] ? ({{(PR_W - 8){1'b0}}, v} << b) : {PR_W{1'b0}};
                if (b == WB - 1) t[PR_W*b +: PR_W] = -t[PR_W*b +: PR_W];
            end
            for (span = 1; span < WB; span = span * 2)
                for (b = 0; b + span < WB; b = b + 2 * span)
                    t[PR_W*b +: PR_W] = t[PR_W*b +: PR_W] + t[PR_W*(b + span) +: PR_W];
            wprod = t[PR_W-1:0];
        end
    endfunction
    reg [LANES*PR_W-1:0] s1_prod, a2_prod;
    reg [AWORD-1:0]    a2_acc, a2_sum;
    /* verilator lint_off UNUSED */
    reg [PX_W-1:0]     s2_px;           // the product sign-extended; its low ACC_W bits are added
    /* verilator lint_on UNUSED */
    integer ln;
    always @* begin
        for (ln = 0; ln < LANES; ln = ln + 1)
            s1_prod[PR_W*ln +: PR_W] = wprod(a1_val, w_rdata[WB*ln +: WB]);
        for (ln = 0; ln < LANES; ln = ln + 1) begin
            s2_px = {{(PX_W - PR_W){a2_prod[PR_W*ln+PR_W-1]}}, a2_prod[PR_W*ln +: PR_W]};
            a2_sum[ACC_W*ln +: ACC_W] = a2_acc[ACC_W*ln +: ACC_W] + s2_px[ACC_W-1:0];
        end
    end
    always @(posedge clk) begin
        a1_v <= !rst && op_issue;
        a1_addr <= op_addr;
        a1_g <= wk_g;
        a2_g <= a1_g;
        a1_val <= wk_val;
        a2_v <= !rst && a1_v;
        a2_addr <= a1_addr;
        a2_acc <= acc_rdata;
        a2_prod <= s1_prod;
    end

    // ---------------------------------------------------------------- neuron phase
    // One neuron issued per cycle: its accumulator word, requantize word and (every other neuron) membrane
    // pair are read; the unit takes them the next cycle; its result comes NEURON_LAT cycles later. Pair k is
    // read when its first neuron 2k issues (even cycles of the phase) and written back when its second
    // neuron's result comes (odd cycles), so the store's port never does both in one cycle.
    reg                nu_on;           // issuing
    reg                nu_odd;          // the neuron issued now is the second of its pair
    reg [P_W-1:0]      nu_pos;
    reg [OC_W-1:0]     nu_c;
    reg [ACC_AW-1:0]   nu_word;
    reg [S_AW-1:0]     nu_m;            // its pair
    wire nu_issue = state == S_NEURON && nu_on;
    wire [LANE_W-1:0] nu_lane = nu_c[LANE_W-1:0];
    wire nu_c_end = nu_c == d_oc_last, nu_pos_end = nu_pos == d_pos_last;
    localparam integer RES = 1 + NEURON_LAT;   // issue to the unit's outputs
    reg [RES:1]        nv;              // nv[k]: a neuron issued k cycles ago
    reg [RES:1]        nl;              // nl[k]: and it was the layer's last (so the store's write enable and
                                        // address come from registers, not from the layer table)
    reg [LANE_W-1:0]   n1_lane;
    reg                n1_first;        // lane 0 of a word: the word comes from the memory, and is cleared
    reg                n1_odd;
    reg [ACC_AW-1:0]   n1_word;
    reg [AWORD-1:0]    acc_hold;
    wire [AWORD-1:0]   n1_accw = n1_first ? acc_rdata : acc_hold;
    wire [ACC_W-1:0]   n1_x = n1_accw[ACC_W*n1_lane +: ACC_W];
    wire [STATE_W-1:0] n1_v = n1_odd ? s_rdata[2*STATE_W-1:STATE_W] : s_rdata[STATE_W-1:0];
    wire [STATE_W-1:0] n_v_new;
    wire               n_spike;
    qsnn_sneuron #(
        .ACC_W(ACC_W), .MUL_W(MUL_W), .BIAS_W(BIAS_W), .PROD_W(PROD_W), .CUR_W(CUR_W), .STATE_W(STATE_W),
        .DM_W(DM_W), .SH_MIN(SH_MIN), .SH_LV(SH_LV), .DSH_MIN(DSH_MIN), .DSH_LV(DSH_LV), .SATURATE(SATURATE)
    ) u_neuron (
        .clk(clk), .acc(n1_x), .mult(rq_rdata[MUL_W-1:0]), .bias(rq_rdata[RQ_W-1:MUL_W]), .v(n1_v),
        .thresh(d_thresh), .dmult(d_dmult), .shift_rel(d_shift_rel), .dshift_rel(d_dshift_rel),
        .reset_zero(d_reset_zero), .sat_en(d_sat), .smax(d_smax), .v_new(n_v_new), .spike(n_spike));
    wire               wb = nv[RES];
    // write-back counters: results come in issue order
    reg [OC_W-1:0]     wb_c;
    reg [P_W-1:0]      wb_pos;
    reg [N_AW-1:0]     wb_flat;         // c * HW + pos: the bitmap address and the trace index
    reg [S_AW-1:0]     wb_m;
    reg                wb_odd;
    reg [STATE_W-1:0]  wb_lo;           // the pair's first membrane, waiting for its second
    wire wb_last = nl[RES];
    // the spike (the threshold compare, a carry chain after the unit's last register) is registered with the
    // neuron's index before it goes to the bitmap, the group flags, the class counters and the trace; the
    // membrane goes to the store in its own cycle (the pair's write slot)
    reg                r_wb, r_spike;
    reg [N_AW-1:0]     r_flat;
    reg [CLASS_W-1:0]  r_class;
    reg [STATE_W-1:0]  r_v;
    reg [NUM_CLASSES-1:0] cnt_inc;      // a spike of class k, decoded a cycle before its counter counts it
    wire m_we = wb && (wb_odd || wb_last);  // a pair done (the last one may be a single)
    wire nu_drained = !nu_on && nv == {RES{1'b0}} && !r_wb && cnt_inc == {NUM_CLASSES{1'b0}};
    assign acc_raddr = (state == S_NEURON) ? nu_word : op_addr;
    assign rq_raddr = d_rq_base + {{(RQ_AW - OC_W){1'b0}}, nu_c};

    always @(posedge clk) begin
        nv <= rst ? {RES{1'b0}} : {nv[RES-1:1], nu_issue};
        nl <= {nl[RES-1:1], nu_c_end && nu_pos_end};
        n1_lane <= nu_lane;
        n1_first <= nu_lane == {LANE_W{1'b0}};
        n1_odd <= nu_odd;
        n1_word <= nu_word;
        if (nv[1] && n1_first) acc_hold <= acc_rdata;
        if (wb && !wb_odd) wb_lo <= n_v_new;
        r_wb <= !rst && wb;
        r_spike <= n_spike;
        r_flat <= wb_flat;
        r_class <= wb_c[CLASS_W-1:0];
        r_v <= n_v_new;
        if (rst || phase_go) begin
            nu_on <= !rst && state == S_NEURON;
            nu_odd <= 1'b0;
            nu_pos <= {P_W{1'b0}};
            nu_c <= {OC_W{1'b0}};
            nu_word <= d_acc_base;
            nu_m <= d_m_base;
            wb_c <= {OC_W{1'b0}};
            wb_pos <= {P_W{1'b0}};
            wb_flat <= {N_AW{1'b0}};
            wb_m <= d_m_base;
            wb_odd <= 1'b0;
        end else begin
            if (state == S_IDLE) nu_m <= M_FIRST;        // the clear's membrane pair, from the first
            if (state == S_CLEAR) nu_m <= nu_m + 1'b1;
            if (nu_issue) begin
                nu_odd <= !nu_odd;
                if (nu_odd) nu_m <= nu_m + 1'b1;
                if (nu_c_end || nu_lane == LANE_LAST) nu_word <= nu_word + 1'b1;
                if (nu_c_end) begin
                    nu_c <= {OC_W{1'b0}};
                    nu_pos <= nu_pos + 1'b1;
                    if (nu_pos_end) nu_on <= 1'b0;
                end else begin
                    nu_c <= nu_c + 1'b1;
                end
            end
            if (wb) begin
                wb_odd <= !wb_odd;
                if (wb_odd) wb_m <= wb_m + 1'b1;
                if (wb_c == d_oc_last) begin
                    wb_c <= {OC_W{1'b0}};
                    wb_pos <= wb_pos + 1'b1;
                    wb_flat <= {{(N_AW - P_W){1'b0}}, wb_pos} + 1'b1;
                end else begin
                    wb_c <= wb_c + 1'b1;
                    wb_flat <= wb_flat + d_hw;
                end
            end
        end
    end

    // the store's port: the load, the clear of the membranes, the pairs' reads and write-backs, the weights
    assign s_we = (state == S_LOAD && in_valid && ld_n == LD_LAST) || (state == S_CLEAR && clr < M_N) ||
                  (state == S_NEURON && m_we);
    assign s_addr = (state == S_LOAD) ? clr[S_AW-1:0]
                  : (state == S_NEURON && m_we) ? wb_m
                  : (state == S_NEURON || state == S_CLEAR) ? nu_m
                  : {{(S_AW - W_AW){1'b0}}, wk_w};
    always @* begin
        s_wdata = {SW{1'b0}};
        if (state == S_LOAD) begin
            s_wdata[WW-1:0] = ld_word[WW-1:0];
        end else if (state == S_NEURON) begin
            s_wdata[STATE_W-1:0] = wb_odd ? wb_lo : n_v_new;
            s_wdata[2*STATE_W-1:STATE_W] = n_v_new;  // a single's second half: never read
        end
    end
    // the group flags: cleared with the membranes, set by a spike, cleared by the scan that passes them
    /* verilator lint_off UNUSED */
    reg [((N_AW > BX) ? N_AW : BX)-1:0] wb_fx;
    /* verilator lint_on UNUSED */
    always @* begin
        wb_fx = {((N_AW > BX) ? N_AW : BX){1'b0}};
        wb_fx[N_AW-1:0] = r_flat;
        f_we = 1'b0;
        f_waddr = cu_ix[F_AW+3:4];
        f_wdata = 1'b0;
        if (state == S_CLEAR) begin
            f_we = clr < F_N;
            f_waddr = clr[F_AW-1:0];
        end else if (state == S_NEURON) begin
            f_we = r_wb && r_spike && layer != LAST_LAYER;
            f_waddr = wb_fx[F_AW+3:4];
            f_wdata = 1'b1;
        end else begin
            f_we = f_first && (scan_adv || f_skip);
        end
    end
    assign b_we = r_wb && layer != LAST_LAYER;
    assign b_waddr = r_flat[B_AW-1:0];
    assign b_wdata = r_spike;
    assign tr_valid = r_wb;
    assign tr_layer = layer;
    assign tr_index = r_flat;
    assign tr_spike = r_spike;
    assign tr_membrane = r_v;

    // accumulator writes: the clear, the walker's sums, the neuron phase's reads (cleared as read, except a
    // static first layer's, whose input never changes)
    wire keep = STATIC != 0 && layer == {LW{1'b0}};
    always @* begin
        acc_we = 1'b0;
        acc_waddr = a2_addr;
        acc_wdata = a2_sum;
        if (state == S_CLEAR) begin
            acc_we = clr < ACC_N;
            acc_waddr = clr[ACC_AW-1:0];
            acc_wdata = {AWORD{1'b0}};
        end else if (state == S_NEURON) begin
            acc_we = nv[1] && n1_first && !keep;
            acc_waddr = n1_word;
            acc_wdata = {AWORD{1'b0}};
        end else begin
            acc_we = a2_v;
        end
    end

    // ---------------------------------------------------------------- output: spikes, counts, class
    reg [STEPS_W-1:0] counts [0:NUM_CLASSES-1];
    reg [STEPS_W-1:0] best;
    reg [CLASS_W-1:0] am_k, am_kd;  // the class read, and the class compared (a cycle later)
    reg [STEPS_W-1:0] am_cnt;
    reg               am_v, am_done;
    integer k;
    wire [CLASS_W-1:0] wb_class = r_class;
    always @(posedge clk) begin
        if (state == S_CLEAR) begin
            for (k = 0; k < NUM_CLASSES; k = k + 1) counts[k] <= {STEPS_W{1'b0}};
            out_class <= {CLASS_W{1'b0}};  // a defined pin until the last step's argmax
        end else begin
            for (k = 0; k < NUM_CLASSES; k = k + 1)
                if (cnt_inc[k]) counts[k] <= counts[k] + 1'b1;
        end
        /* verilator lint_off WIDTH */
        for (k = 0; k < NUM_CLASSES; k = k + 1)
            cnt_inc[k] <= !rst && r_wb && layer == LAST_LAYER && r_spike && wb_class == k;
        /* verilator lint_on WIDTH */
        if (r_wb && layer == LAST_LAYER) out_spikes[wb_class] <= r_spike;
        // argmax, one class per cycle in two stages (the count read, then compared): strictly greater, so the
        // lowest index wins a tie
        if (state == S_ARGMAX) begin
            if (!am_done) am_k <= am_k + 1'b1;
            am_done <= am_done || am_k == CLASS_LAST;
            am_v <= !am_done;
            am_cnt <= counts[am_k];
            am_kd <= am_k;
            if (am_v && (am_kd == {CLASS_W{1'b0}} || am_cnt > best)) begin
                best <= am_cnt;
                out_class <= am_kd;
            end
        end else begin
            am_k <= {CLASS_W{1'b0}};
            am_done <= 1'b0;
            am_v <= 1'b0;
        end
    end

    // ---------------------------------------------------------------- sequencer
    wire last_step = steps_left == {{(STEPS_W - 1){1'b0}}, 1'b1};
    wire acc_done = acc_phase && cu_end && !a_v && !e0_v && !wk_busy && !a1_v && !a2_v;
    wire out_fire = out_valid && out_ready;
    assign out_valid = state == S_OUT;
    assign out_last = last_step;
    assign busy = state != S_IDLE && state != S_LOAD;

    always @(posedge clk) begin
        phase_go <= 1'b0;
        if (rst) begin
            state <= S_LOAD;
            clr <= {CLR_W{1'b0}};
            ld_n <= 4'd0;
            layer <= {LW{1'b0}};
        end else begin
            case (state)
                S_LOAD: if (in_valid) begin
                    ld_buf <= ld_word[8*LD_BYTES-1:8];
                    if (ld_n == LD_LAST) begin
                        ld_n <= 4'd0;
                        clr <= clr + 1'b1;
                        if (clr == W_LAST) state <= S_IDLE;
                    end else begin
                        ld_n <= ld_n + 1'b1;
                    end
                end
                S_IDLE: if (in_valid) begin
                    state <= S_CLEAR;
                    clr <= {CLR_W{1'b0}};
                    steps_left <= num_steps;
                end
                S_CLEAR: begin
                    clr <= clr + 1'b1;
                    if (clr == CLR_LAST) begin
                        state <= S_ACC;
                        layer <= {LW{1'b0}};
                        phase_go <= 1'b1;
                    end
                end
                S_ACC: if (acc_done) begin
                    state <= S_NEURON;
                    phase_go <= 1'b1;
                end
                S_NEURON: if (!phase_go && nu_drained) begin
                    if (layer == LAST_LAYER) begin
                        state <= last_step ? S_ARGMAX : S_OUT;
                    end else begin
                        layer <= layer + 1'b1;
                        state <= S_ACC;
                        phase_go <= 1'b1;
                    end
                end
                S_ARGMAX: if (am_v && am_kd == CLASS_LAST) state <= S_OUT;
                S_OUT: if (out_fire) begin
                    steps_left <= steps_left - 1'b1;
                    layer <= {LW{1'b0}};
                    phase_go <= 1'b1;
                    if (last_step) state <= S_IDLE;
                    else state <= (STATIC != 0) ? S_NEURON : S_ACC;
                end
                default: state <= S_IDLE;
            endcase
        end
    end
endmodule

`default_nettype wire
