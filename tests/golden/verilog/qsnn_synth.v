// qsnn_synth.v - the design as it goes into an FPGA (qsnn-deploy, from sha256-d54839391dcf0ad7; do not edit):
// qsnn_top with the number of steps fixed to the model's 20 and the simulation trace left unconnected,
// so synthesis keeps only what the streaming interface needs.
`default_nettype none

module qsnn_synth (
    input  wire                 clk,
    input  wire                 rst,
    input  wire                 in_valid,
    output wire                 in_ready,
    input  wire [7:0]           in_data,
    output wire                 out_valid,
    input  wire                 out_ready,
    output wire [2:0]           out_spikes,
    output wire                 out_last,
    output wire [1:0]           out_class,
    output wire                 busy
);
    /* verilator lint_off UNUSED */
    wire                 tr0_valid;
    wire [7:0]           tr0_index;
    wire [0:0]           tr0_lanes, tr0_spikes;
    wire [31:0]          tr0_membranes;
    wire                 tr1_valid;
    wire [1:0]           tr1_index;
    wire [0:0]           tr1_lanes, tr1_spikes;
    wire [31:0]          tr1_membranes;
    wire                 tr2_valid;
    wire [1:0]           tr2_index;
    wire [0:0]           tr2_lanes, tr2_spikes;
    wire [31:0]          tr2_membranes;
    /* verilator lint_on UNUSED */

    qsnn_top u_top (
        .clk(clk), .rst(rst), .num_steps(16'd20),
        .in_valid(in_valid), .in_ready(in_ready), .in_data(in_data),
        .out_valid(out_valid), .out_ready(out_ready), .out_spikes(out_spikes), .out_last(out_last),
        .out_class(out_class), .busy(busy),
        .tr0_valid(tr0_valid), .tr0_index(tr0_index), .tr0_lanes(tr0_lanes),
        .tr0_spikes(tr0_spikes), .tr0_membranes(tr0_membranes),
        .tr1_valid(tr1_valid), .tr1_index(tr1_index), .tr1_lanes(tr1_lanes),
        .tr1_spikes(tr1_spikes), .tr1_membranes(tr1_membranes),
        .tr2_valid(tr2_valid), .tr2_index(tr2_index), .tr2_lanes(tr2_lanes),
        .tr2_spikes(tr2_spikes), .tr2_membranes(tr2_membranes)
    );
endmodule

`default_nettype wire
