// tb_icarus.v - plain Verilog testbench of the qsnn-deploy Verilog target for a second simulator (Icarus
// Verilog). Reads the frames of every sample from a $readmemh byte image, drives <prefix>_top through its
// streaming interface and writes one text line per event:
//   T <layer> <index> <lane> <spike> <membrane>   a neuron of a layer (every neuron, every step): lane j of
//                                                  a trace beat is neuron index + j * (the layer's H * W);
//                                                  in a layer with synaptic currents its current follows.
//                                                  A layer's lines of a step may come after the O line of an
//                                                  earlier step (steps pipelined over the layers): its step
//                                                  is the count of its lines so far over its neurons
//   O <spikes, hex> <last> <class>           an output beat (one per step)
//   C <cycles>                               cycles of the sample, first input beat to last output beat
// Compile with -DTB_BYTES=<bytes in the image>; run with +samples=N +steps=T +frames=F +vectors=FILE +out=FILE.
`timescale 1ns / 1ps
`include "tb_config.vh"

module tb;
    reg clk = 1'b0, rst = 1'b1, in_valid = 1'b0;
    reg [7:0] in_data = 8'd0;
    reg [15:0] num_steps = 16'd1;
`ifdef TB_LOAD_WORDS
    // the serial organisation's weights, over the input stream after reset (TB_LOAD_BYTES bytes per word, low
    // byte first)
    reg [8*`TB_LOAD_BYTES-1:0] ld_mem [0:`TB_LOAD_WORDS-1];
    integer w;
`endif
    wire in_ready, out_valid, out_last, busy;
    wire [`TB_CLASSES-1:0] out_spikes;
    wire [`TB_CLASS_W-1:0] out_class;

    // the trace ports are read through the instance (TB_TRACE, tb_config.vh)
    `TB_TOP dut (
        .clk(clk), .rst(rst), .num_steps(num_steps),
        .in_valid(in_valid), .in_ready(in_ready), .in_data(in_data),
        .out_valid(out_valid), .out_ready(1'b1), .out_spikes(out_spikes), .out_last(out_last), .out_class(out_class),
        .busy(busy)
    );

    reg [7:0] vec [0:`TB_BYTES-1];
    reg [1023:0] vectors, outfile;
    integer samples, steps, frames, s, pos, total, fo, cycles, finished, j;

    always #5 clk = ~clk;

    initial begin
        if (!$value$plusargs("samples=%d", samples) || !$value$plusargs("steps=%d", steps)
            || !$value$plusargs("frames=%d", frames) || !$value$plusargs("vectors=%s", vectors)
            || !$value$plusargs("out=%s", outfile)) begin
            $display("tb: missing plusargs");
            $finish;
        end
        $readmemh(vectors, vec);
        fo = $fopen(outfile, "w");
        num_steps = steps[15:0];
        repeat (4) @(posedge clk);
        rst = 1'b0;
`ifdef TB_LOAD_WORDS
        $readmemh(`TB_LOAD_FILE, ld_mem);
        w = 0;
        while (w < `TB_LOAD_BYTES * `TB_LOAD_WORDS) begin
            @(negedge clk);
            in_valid = 1'b1;
            in_data = ld_mem[w / `TB_LOAD_BYTES] >> (8 * (w % `TB_LOAD_BYTES));
            #1;
            if (in_ready) w = w + 1;
        end
        @(negedge clk);
        in_valid = 1'b0;
`endif
        total = frames * `TB_FRAME;
        for (s = 0; s < samples; s = s + 1) begin
            pos = 0;
            cycles = 0;
            finished = 0;
            while (!finished) begin
                @(negedge clk);
                in_valid = (pos < total);
                in_data = (pos < total) ? vec[s * total + pos] : 8'd0;
                #1;
                `TB_TRACE(fo)
                if (out_valid) begin
                    $fwrite(fo, "O %h %0d %0d\n", out_spikes, out_last, out_class);
                    if (out_last) finished = 1;
                end
                if (in_valid && in_ready) pos = pos + 1;
                if (pos > 0) cycles = cycles + 1;
            end
            $fwrite(fo, "C %0d\n", cycles);
        end
        $fclose(fo);
        $finish;
    end
endmodule
