// qsnn_spram.v - single-port RAM (one address for the read and the write), the store (weights, membranes) of the serial
// organisation (qsnn_serial.v). Written so that Yosys maps it to iCE40 UP5K SPRAM (SB_SPRAM256KA, 16K x 16,
// `synth_ice40 -spram`): one port, a registered read that keeps its word while the port writes
// ("no change"), no initial contents (SPRAM has none: the weights arrive over the load port). Define
// QSNN_ICE40_SPRAM for iCE40 (Yosys: `read_verilog -DQSNN_ICE40_SPRAM`): it asks for the "huge" RAM kind,
// which only the iCE40 UP parts have (Yosys refuses it on ECP5); without it tools infer block RAM.
`default_nettype none

module qsnn_spram #(
    parameter integer WIDTH = 16,
    parameter integer DEPTH = 16,
    parameter integer ADDR_W = 4
) (
    input  wire              clk,
    input  wire              we,
    input  wire [ADDR_W-1:0] addr,
    input  wire [WIDTH-1:0]  wdata,
    output reg  [WIDTH-1:0]  rdata
);
`ifdef QSNN_ICE40_SPRAM
    (* ram_style = "huge" *)
`endif
    reg [WIDTH-1:0] mem [0:DEPTH-1];

    always @(posedge clk) begin
        if (we) mem[addr] <= wdata;
        else rdata <= mem[addr];
    end
endmodule

`default_nettype wire
