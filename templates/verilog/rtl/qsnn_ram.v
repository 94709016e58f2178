// qsnn_ram.v - simple dual-port RAM (one write port, one synchronous read port), the only memory primitive
// of the qsnn-deploy Verilog target. Written in the style Yosys maps to block RAM (ECP5 DP16KD, iCE40 EBR)
// and vendor tools infer as BRAM. The read is not write-through: a read of the address written in the same
// cycle returns the old word (callers forward where that matters). INIT_FILE: $readmemh image, "" = none.
`default_nettype none

module qsnn_ram #(
    parameter integer WIDTH = 8,
    parameter integer DEPTH = 16,
    parameter integer ADDR_W = 4,
    parameter INIT_FILE = ""
) (
    input  wire              clk,
    input  wire              we,
    input  wire [ADDR_W-1:0] waddr,
    input  wire [WIDTH-1:0]  wdata,
    input  wire [ADDR_W-1:0] raddr,
    output reg  [WIDTH-1:0]  rdata
);
    reg [WIDTH-1:0] mem [0:DEPTH-1];

    generate
        if (INIT_FILE != "") begin : g_init
            initial $readmemh(INIT_FILE, mem);
        end
    endgenerate

    always @(posedge clk) begin
        if (we) mem[waddr] <= wdata;
        rdata <= mem[raddr];
    end
endmodule

`default_nettype wire
