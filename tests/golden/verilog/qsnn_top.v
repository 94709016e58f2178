// qsnn_top.v - top level of the generated network (qsnn-deploy, from sha256-d54839391dcf0ad7; do not edit).
//
// 3 layers, a static input (one frame per inference) of 256 bytes, 3 classes.
// Interface (docs/targets/verilog.md): frames in over in_valid/in_ready/in_data, one byte per beat in (C, H, W)
// order; one out beat per step (out_spikes, out_last; out_class with the last step); tr<i>_* is a simulation
// trace of every neuron's spike and membrane, one port per layer (leave them unconnected in hardware:
// qsnn_synth.v does). Steps are pipelined over the layers (qsnn_ctrl PIPELINE).
// Memory images: qsnn_conv1_w.hex, qsnn_rq1_rq.hex, qsnn_conv2_w.hex, qsnn_rq2_rq.hex, qsnn_fc1_w.hex, qsnn_rq3_rq.hex.
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
    output wire                 tr0_valid,
    output wire [7:0]           tr0_index,
    output wire [0:0]           tr0_lanes,
    output wire [0:0]           tr0_spikes,
    output wire [31:0]          tr0_membranes,
    output wire                 tr1_valid,
    output wire [1:0]           tr1_index,
    output wire [0:0]           tr1_lanes,
    output wire [0:0]           tr1_spikes,
    output wire [31:0]          tr1_membranes,
    output wire                 tr2_valid,
    output wire [1:0]           tr2_index,
    output wire [0:0]           tr2_lanes,
    output wire [0:0]           tr2_spikes,
    output wire [31:0]          tr2_membranes
);
    wire                 start_clear;
    wire [2:0]           start_acc, start_neuron, done, ndone, upstream_busy, first_step;
    // layer 0: conv2d conv1 (1, 16, 16) -> (4, 12, 12), sumpool2d pool1 k=2 -> (4, 6, 6), requantize rq1, lif lif1 (144 neurons)
    wire                 push0_valid;
    wire [0:0]           push0_mask;
    wire [7:0]           push0_val;
    wire [0:0]           push0_c;
    wire [3:0]           push0_y;
    wire [3:0]           push0_x;
    wire [27:0]           tr0_states;
    // layer 1: conv2d conv2 (4, 6, 6) -> (4, 2, 2), sumpool2d pool2 k=2 -> (4, 1, 1), requantize rq2, lif lif2 (4 neurons)
    wire                 push1_valid;
    wire [0:0]           push1_mask;
    wire [0:0]           push1_val;
    wire [1:0]           push1_c;
    wire [2:0]           push1_y;
    wire [2:0]           push1_x;
    wire [29:0]           tr1_states;
    // layer 2: linear fc1 (4, 1, 1) -> (3,), requantize rq3, lif lif3 (3 neurons)
    wire                 push2_valid;
    wire [0:0]           push2_mask;
    wire [0:0]           push2_val;
    wire [1:0]           push2_c;
    wire [0:0]           push2_y;
    wire [0:0]           push2_x;
    wire [27:0]           tr2_states;
    // the last layer's spikes are the output: its events have no consumer
    /* verilator lint_off UNUSED */
    wire                 unused_valid;
    wire [0:0]           unused_mask;
    wire [1:0]           unused_c;
    wire [0:0]           unused_y;
    wire [0:0]           unused_x;
    /* verilator lint_on UNUSED */
    wire [7:0] first_val;
    assign push0_val = first_val;
    assign push0_mask = 1'b1;

    qsnn_ctrl #(
        .NUM_LAYERS(3), .STATIC(1), .PIPELINE(1),
        .IN_C(1), .IN_H(16), .IN_W(16), .FIRST_FLAT(0),
        .NUM_CLASSES(3), .LAST_N_AW(2), .LAST_NL(1), .CLASS_W(2), .STEPS_W(16),
        .CW(1), .YW(4), .XW(4)
    ) u_ctrl (
        .clk(clk), .rst(rst), .num_steps(num_steps),
        .in_valid(in_valid), .in_ready(in_ready), .in_data(in_data),
        .out_valid(out_valid), .out_ready(out_ready), .out_spikes(out_spikes), .out_last(out_last),
        .out_class(out_class), .busy(busy),
        .start_clear(start_clear), .start_acc(start_acc), .start_neuron(start_neuron), .first_step(first_step),
        .done(done), .ndone(ndone), .upstream_busy(upstream_busy),
        .ev_valid(push0_valid), .ev_val(first_val), .ev_c(push0_c), .ev_y(push0_y), .ev_x(push0_x),
        .last_tr_valid_in(tr2_valid), .last_tr_index_in(tr2_index),
        .last_tr_lanes_in(tr2_lanes), .last_tr_spikes_in(tr2_spikes)
    );

    qsnn_layer #(
        .IN_C(1), .IN_H(16), .IN_W(16), .VAL_W(8),
        .OC(4), .KH(5), .KW(5), .PAD(0), .OUT_H(6), .OUT_W(6), .POOL_LOG2(1), .ACC_VALID(1),
        .LANES(4), .NLANES(1), .IN_NL(1), .MASK_STRIDE(1), .GROUPS(1), .ACC_W(18), .WEIGHT_FILE("qsnn_conv1_w.hex"),
        .MUL_W(30), .BIAS_W(41), .PROD_W(46), .SHIFT(23), .CUR_W(23), .RQ_FILE("qsnn_rq1_rq.hex"),
        .STATE_W(28), .THRESH(32'd1048576), .DECAY_MULT(33'd246), .DM_W(8), .DECAY_SHIFT(8),
        .RESET_ZERO(0), .SATURATE(0), .KEEP_ACC(1), .NEXT_FLAT(0)
    ) u_lif1 (
        .clk(clk), .rst(rst),
        .push_valid(push0_valid), .push_mask(push0_mask), .push_val(push0_val), .push_c(push0_c), .push_y(push0_y), .push_x(push0_x),
        .start_clear(start_clear), .start_acc(start_acc[0]), .start_neuron(start_neuron[0]),
        .upstream_busy(upstream_busy[0]), .first_step(first_step[0]),
        .done(done[0]), .ndone(ndone[0]),
        .ev_valid(push1_valid), .ev_mask(push1_mask), .ev_c(push1_c), .ev_y(push1_y), .ev_x(push1_x),
        .tr_valid(tr0_valid), .tr_index(tr0_index), .tr_lanes(tr0_lanes),
        .tr_spikes(tr0_spikes), .tr_membranes(tr0_states)
    );

    qsnn_layer #(
        .IN_C(4), .IN_H(6), .IN_W(6), .VAL_W(1),
        .OC(4), .KH(5), .KW(5), .PAD(0), .OUT_H(1), .OUT_W(1), .POOL_LOG2(1), .ACC_VALID(1), .OVERLAP(1),
        .LANES(4), .NLANES(1), .IN_NL(1), .MASK_STRIDE(1), .GROUPS(1), .ACC_W(12), .WEIGHT_FILE("qsnn_conv2_w.hex"),
        .MUL_W(30), .BIAS_W(33), .PROD_W(40), .SHIFT(15), .CUR_W(25), .RQ_FILE("qsnn_rq2_rq.hex"),
        .STATE_W(30), .THRESH(32'd1048576), .DECAY_MULT(33'd246), .DM_W(8), .DECAY_SHIFT(8),
        .RESET_ZERO(0), .SATURATE(0), .KEEP_ACC(0), .NEXT_FLAT(1)
    ) u_lif2 (
        .clk(clk), .rst(rst),
        .push_valid(push1_valid), .push_mask(push1_mask), .push_val(push1_val), .push_c(push1_c), .push_y(push1_y), .push_x(push1_x),
        .start_clear(start_clear), .start_acc(start_acc[1]), .start_neuron(start_neuron[1]),
        .upstream_busy(upstream_busy[1]), .first_step(first_step[1]),
        .done(done[1]), .ndone(ndone[1]),
        .ev_valid(push2_valid), .ev_mask(push2_mask), .ev_c(push2_c), .ev_y(push2_y), .ev_x(push2_x),
        .tr_valid(tr1_valid), .tr_index(tr1_index), .tr_lanes(tr1_lanes),
        .tr_spikes(tr1_spikes), .tr_membranes(tr1_states)
    );
    assign push1_val = 1'b1;

    qsnn_layer #(
        .IN_C(4), .IN_H(1), .IN_W(1), .VAL_W(1),
        .OC(3), .KH(1), .KW(1), .PAD(0), .OUT_H(1), .OUT_W(1), .POOL_LOG2(0), .ACC_VALID(1), .OVERLAP(1),
        .LANES(4), .NLANES(1), .IN_NL(1), .MASK_STRIDE(1), .GROUPS(1), .ACC_W(6), .WEIGHT_FILE("qsnn_fc1_w.hex"),
        .MUL_W(31), .BIAS_W(31), .PROD_W(34), .SHIFT(12), .CUR_W(22), .RQ_FILE("qsnn_rq3_rq.hex"),
        .STATE_W(28), .THRESH(32'd1048576), .DECAY_MULT(33'd246), .DM_W(8), .DECAY_SHIFT(8),
        .RESET_ZERO(0), .SATURATE(0), .KEEP_ACC(0), .NEXT_FLAT(0)
    ) u_lif3 (
        .clk(clk), .rst(rst),
        .push_valid(push2_valid), .push_mask(push2_mask), .push_val(push2_val), .push_c(push2_c), .push_y(push2_y), .push_x(push2_x),
        .start_clear(start_clear), .start_acc(start_acc[2]), .start_neuron(start_neuron[2]),
        .upstream_busy(upstream_busy[2]), .first_step(first_step[2]),
        .done(done[2]), .ndone(ndone[2]),
        .ev_valid(unused_valid), .ev_mask(unused_mask), .ev_c(unused_c), .ev_y(unused_y), .ev_x(unused_x),
        .tr_valid(tr2_valid), .tr_index(tr2_index), .tr_lanes(tr2_lanes),
        .tr_spikes(tr2_spikes), .tr_membranes(tr2_states)
    );
    assign push2_val = 1'b1;

    // trace: membranes (and currents) sign-extended to 32 bits
    assign tr0_membranes = {{ {4{tr0_states[27]} }, tr0_states[27:0]}};
    assign tr1_membranes = {{ {2{tr1_states[29]} }, tr1_states[29:0]}};
    assign tr2_membranes = {{ {4{tr2_states[27]} }, tr2_states[27:0]}};
endmodule

`default_nettype wire
