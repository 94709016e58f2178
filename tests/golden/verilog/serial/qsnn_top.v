// qsnn_top.v - top level of the generated network, serial organisation (qsnn-deploy, from sha256-d54839391dcf0ad7; do not
// edit).
//
// 3 layers, a static input (one frame per inference) of 256 bytes, 3 classes.
// Interface (docs/targets/verilog.md): after reset, the 129 weight words of qsnn_weights.hex in file
// order over in_valid/in_ready/in_data, 2 bytes per word, low byte first; then frames, one byte per
// beat in (C, H, W) order; one out beat per step (out_spikes, out_last; out_class with the last step); tr_* is a
// simulation trace of every neuron's spike and membrane (leave it unconnected in hardware: qsnn_synth.v does).
// This file holds the table of per-layer constants the engine (qsnn_serial.v) reads.
`default_nettype none

module qsnn_top (
    input  wire                 clk,
    input  wire                 rst,
    input  wire [15:0]          num_steps,
    input  wire                 in_valid,
    output wire                 in_ready,
    input  wire [7:0]           in_data,
    output wire                 out_valid,
    input  wire                 out_ready,
    output wire [2:0]           out_spikes,
    output wire                 out_last,
    output wire [1:0]           out_class,
    output wire                 busy,
    output wire                 tr_valid,
    output wire [1:0]           tr_layer,
    output wire [7:0]          tr_index,
    output wire [0:0]           tr_lanes,
    output wire [0:0]           tr_spikes,
    output wire [31:0]          tr_membranes
);
    wire [1:0] layer;
    reg  [1:0] d_c_last;
    reg  [4:0] d_ty_last;
    reg  [4:0] d_tx_last;
    reg  [4:0] d_pad;
    reg  [0:0] d_fold;
    reg  [4:0] d_o0;
    reg  [2:0] d_kh_last;
    reg  [2:0] d_kw_last;
    reg  [0:0] d_pool_mask;
    reg  [4:0] d_ohp;
    reg  [4:0] d_owp;
    reg  [0:0] d_g_last;
    reg  [5:0] d_g;
    reg  [5:0] d_owg;
    reg  [5:0] d_row0;
    reg  [5:0] d_col0;
    reg  [5:0] d_acc_base;
    reg  [7:0] d_w_base;
    reg  [7:0] d_wc;
    reg  [7:0] d_wkw;
    reg  [7:0] d_wg;
    reg  [7:0] d_wpx;
    reg  [7:0] d_wpy;
    reg  [7:0] d_wx0;
    reg  [7:0] d_wy0;
    reg  [0:0] d_skip;
    reg  [7:0] d_w16;
    reg  [5:0] d_pos_last;
    reg  [1:0] d_oc_last;
    reg  [7:0] d_hw;
    reg  [3:0] d_rq_base;
    reg  [7:0] d_m_base;
    reg  [29:0] d_thresh;
    reg  [7:0] d_dmult;
    reg  [3:0] d_shift_rel;
    reg  [0:0] d_dshift_rel;
    reg  [0:0] d_reset_zero;
    reg  [0:0] d_sat;
    reg  [29:0] d_smax;
    // the layer table: per-layer geometry, memory bases and neuron constants
    always @* begin
        case (layer)
            2'd0: begin  // layer 0: conv2d conv1 (1, 16, 16) -> (4, 12, 12), sumpool2d pool1 k=2 -> (4, 6, 6), requantize rq1, lif lif1 (144 neurons)
                d_c_last = 2'd0;
                d_ty_last = 5'd15;
                d_tx_last = 5'd15;
                d_pad = 5'd0;
                d_fold = 1'd0;
                d_o0 = 5'd0;
                d_kh_last = 3'd4;
                d_kw_last = 3'd4;
                d_pool_mask = 1'd1;
                d_ohp = 5'd12;
                d_owp = 5'd12;
                d_g_last = 1'd0;
                d_g = 6'd1;
                d_owg = 6'd6;
                d_row0 = 6'd0;
                d_col0 = 6'd0;
                d_acc_base = 6'd0;
                d_w_base = 8'd0;
                d_wc = 8'd25;
                d_wkw = 8'd5;
                d_wg = 8'd1;
                d_wpx = 8'd0;
                d_wpy = 8'd0;
                d_wx0 = 8'd0;
                d_wy0 = 8'd0;
                d_skip = 1'd0;
                d_w16 = 8'd144;
                d_pos_last = 6'd35;
                d_oc_last = 2'd3;
                d_hw = 8'd36;
                d_rq_base = 4'd0;
                d_m_base = 8'd129;
                d_thresh = 30'd1048576;
                d_dmult = 8'd246;
                d_shift_rel = 4'd11;
                d_dshift_rel = 1'd0;
                d_reset_zero = 1'd0;
                d_sat = 1'd0;
                d_smax = 30'd134217727;
            end
            2'd1: begin  // layer 1: conv2d conv2 (4, 6, 6) -> (4, 2, 2), sumpool2d pool2 k=2 -> (4, 1, 1), requantize rq2, lif lif2 (4 neurons)
                d_c_last = 2'd3;
                d_ty_last = 5'd5;
                d_tx_last = 5'd5;
                d_pad = 5'd0;
                d_fold = 1'd0;
                d_o0 = 5'd0;
                d_kh_last = 3'd4;
                d_kw_last = 3'd4;
                d_pool_mask = 1'd1;
                d_ohp = 5'd2;
                d_owp = 5'd2;
                d_g_last = 1'd0;
                d_g = 6'd1;
                d_owg = 6'd1;
                d_row0 = 6'd0;
                d_col0 = 6'd0;
                d_acc_base = 6'd36;
                d_w_base = 8'd25;
                d_wc = 8'd25;
                d_wkw = 8'd5;
                d_wg = 8'd1;
                d_wpx = 8'd0;
                d_wpy = 8'd0;
                d_wx0 = 8'd0;
                d_wy0 = 8'd0;
                d_skip = 1'd0;
                d_w16 = 8'd144;
                d_pos_last = 6'd0;
                d_oc_last = 2'd3;
                d_hw = 8'd1;
                d_rq_base = 4'd4;
                d_m_base = 8'd201;
                d_thresh = 30'd1048576;
                d_dmult = 8'd246;
                d_shift_rel = 4'd3;
                d_dshift_rel = 1'd0;
                d_reset_zero = 1'd0;
                d_sat = 1'd0;
                d_smax = 30'd536870911;
            end
            default: begin  // layer 2: linear fc1 (4, 1, 1) -> (3,), requantize rq3, lif lif3 (3 neurons)
                d_c_last = 2'd3;
                d_ty_last = 5'd0;
                d_tx_last = 5'd0;
                d_pad = 5'd0;
                d_fold = 1'd0;
                d_o0 = 5'd0;
                d_kh_last = 3'd0;
                d_kw_last = 3'd0;
                d_pool_mask = 1'd0;
                d_ohp = 5'd1;
                d_owp = 5'd1;
                d_g_last = 1'd0;
                d_g = 6'd1;
                d_owg = 6'd1;
                d_row0 = 6'd0;
                d_col0 = 6'd0;
                d_acc_base = 6'd37;
                d_w_base = 8'd125;
                d_wc = 8'd1;
                d_wkw = 8'd1;
                d_wg = 8'd1;
                d_wpx = 8'd0;
                d_wpy = 8'd0;
                d_wx0 = 8'd0;
                d_wy0 = 8'd0;
                d_skip = 1'd1;
                d_w16 = 8'd16;
                d_pos_last = 6'd0;
                d_oc_last = 2'd2;
                d_hw = 8'd1;
                d_rq_base = 4'd8;
                d_m_base = 8'd203;
                d_thresh = 30'd1048576;
                d_dmult = 8'd246;
                d_shift_rel = 4'd0;
                d_dshift_rel = 1'd0;
                d_reset_zero = 1'd0;
                d_sat = 1'd0;
                d_smax = 30'd134217727;
            end
        endcase
    end

    wire [7:0] index;
    wire [29:0] membrane;
    qsnn_serial #(
        .NUM_LAYERS(3),
        .LANES(4),
        .LANE_W(2),
        .LW(2),
        .NUM_CLASSES(3),
        .CLASS_W(2),
        .STEPS_W(16),
        .CW(2),
        .TW(5),
        .KW_W(3),
        .G_W(1),
        .PM_W(1),
        .WB(4),
        .ACC_W(18),
        .ACC_AW(6),
        .W_AW(8),
        .SW(60),
        .S_AW(8),
        .RQ_AW(4),
        .B_AW(8),
        .F_AW(4),
        .F_DEPTH(16),
        .P_W(6),
        .OC_W(2),
        .N_AW(8),
        .MUL_W(31),
        .BIAS_W(41),
        .PROD_W(49),
        .CUR_W(25),
        .STATE_W(30),
        .DM_W(8),
        .SH_MIN(12),
        .SH_LV(4),
        .DSH_MIN(8),
        .DSH_LV(0),
        .SATURATE(0),
        .NEURON_LAT(5),
        .ACC_DEPTH(38),
        .W_DEPTH(129),
        .S_DEPTH(205),
        .RQ_DEPTH(11),
        .M_DEPTH(76),
        .B_DEPTH(144),
        .STATIC(1), .RQ_FILE("qsnn_rq.hex")
    ) u_engine (
        .clk(clk), .rst(rst), .num_steps(num_steps),
        .in_valid(in_valid), .in_ready(in_ready), .in_data(in_data),
        .out_valid(out_valid), .out_ready(out_ready), .out_spikes(out_spikes), .out_last(out_last),
        .out_class(out_class), .busy(busy),
        .tr_valid(tr_valid), .tr_layer(tr_layer), .tr_index(index), .tr_spike(tr_spikes[0]), .tr_membrane(membrane),
        .layer(layer),
        .d_c_last(d_c_last),
        .d_ty_last(d_ty_last),
        .d_tx_last(d_tx_last),
        .d_pad(d_pad),
        .d_fold(d_fold),
        .d_o0(d_o0),
        .d_kh_last(d_kh_last),
        .d_kw_last(d_kw_last),
        .d_pool_mask(d_pool_mask),
        .d_ohp(d_ohp),
        .d_owp(d_owp),
        .d_g_last(d_g_last),
        .d_g(d_g),
        .d_owg(d_owg),
        .d_row0(d_row0),
        .d_col0(d_col0),
        .d_acc_base(d_acc_base),
        .d_w_base(d_w_base),
        .d_wc(d_wc),
        .d_wkw(d_wkw),
        .d_wg(d_wg),
        .d_wpx(d_wpx),
        .d_wpy(d_wpy),
        .d_wx0(d_wx0),
        .d_wy0(d_wy0),
        .d_skip(d_skip),
        .d_w16(d_w16),
        .d_pos_last(d_pos_last),
        .d_oc_last(d_oc_last),
        .d_hw(d_hw),
        .d_rq_base(d_rq_base),
        .d_m_base(d_m_base),
        .d_thresh(d_thresh),
        .d_dmult(d_dmult),
        .d_shift_rel(d_shift_rel),
        .d_dshift_rel(d_dshift_rel),
        .d_reset_zero(d_reset_zero),
        .d_sat(d_sat),
        .d_smax(d_smax)
    );
    assign tr_lanes = 1'b1;
    assign tr_index = index;
    assign tr_membranes = { {2{membrane[29]} }, membrane};
endmodule

`default_nettype wire
