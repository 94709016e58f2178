// qsnn_mul.v - a signed multiply with one register on each operand and one on the product: p = a * b, two
// cycles after a and b are presented (exact: P_W = A_W + B_W holds every product).
//
// Everywhere but on ECP5 under Yosys it is the three registers and a `*`, and synthesis maps the multiply to a
// DSP block or to logic as it likes. With QSNN_ECP5_DSP_REGS defined and both operands of 2 to 18 bits, it is
// one MULT18X18D whose own input and output registers are the three registers: no fabric flip-flop sits next
// to the block, so the routes to and from it each get a cycle of their own (Yosys 0.70 maps a `*` to
// MULT18X18D without its registers, and the routes plus the multiply then fill a whole cycle).
//
// The registers are switched on after synthesis, not by parameters on the instance: Yosys 0.70's ABC9 stops
// on a MULT18X18D instance that has parameters. The instance carries the attribute qsnn_dsp_regs, and the
// flow that defines QSNN_ECP5_DSP_REGS must run, after synth_ecp5 (report.py does; docs/targets/verilog.md):
//     setparam -set REG_INPUTA_CLK "CLK0" -set REG_INPUTB_CLK "CLK0" -set REG_OUTPUT_CLK "CLK0" a:qsnn_dsp_regs
// Without that step the block has no registers and the product comes two cycles early: so the define is for
// that flow only.
`default_nettype none

module qsnn_mul #(
    parameter integer A_W = 18,
    parameter integer B_W = 18
) (
    input  wire                        clk,
    input  wire signed [A_W-1:0]       a,
    input  wire signed [B_W-1:0]       b,
    output wire signed [A_W+B_W-1:0]   p
);
`ifdef QSNN_ECP5_DSP_REGS
    localparam integer ON_DSP = (A_W >= 2 && A_W <= 18 && B_W >= 2 && B_W <= 18) ? 1 : 0;
`else
    localparam integer ON_DSP = 0;
`endif
    generate
        if (ON_DSP != 0) begin : g_dsp
`ifdef QSNN_ECP5_DSP_REGS
            wire [17:0] a18 = {{(19 - A_W){a[A_W-1]}}, a[A_W-2:0]};  // sign-extended to the block's width
            wire [17:0] b18 = {{(19 - B_W){b[B_W-1]}}, b[B_W-2:0]};
            /* verilator lint_off UNUSED */
            wire [35:0] p36;
            /* verilator lint_on UNUSED */
            assign p = p36[A_W+B_W-1:0];
            (* qsnn_dsp_regs = 1 *)
            MULT18X18D u_dsp (
                .A0(a18[0]), .A1(a18[1]), .A2(a18[2]), .A3(a18[3]), .A4(a18[4]), .A5(a18[5]), .A6(a18[6]),
                .A7(a18[7]), .A8(a18[8]), .A9(a18[9]), .A10(a18[10]), .A11(a18[11]), .A12(a18[12]),
                .A13(a18[13]), .A14(a18[14]), .A15(a18[15]), .A16(a18[16]), .A17(a18[17]),
                .B0(b18[0]), .B1(b18[1]), .B2(b18[2]), .B3(b18[3]), .B4(b18[4]), .B5(b18[5]), .B6(b18[6]),
                .B7(b18[7]), .B8(b18[8]), .B9(b18[9]), .B10(b18[10]), .B11(b18[11]), .B12(b18[12]),
                .B13(b18[13]), .B14(b18[14]), .B15(b18[15]), .B16(b18[16]), .B17(b18[17]),
                .C0(1'b0), .C1(1'b0), .C2(1'b0), .C3(1'b0), .C4(1'b0), .C5(1'b0), .C6(1'b0), .C7(1'b0),
                .C8(1'b0), .C9(1'b0), .C10(1'b0), .C11(1'b0), .C12(1'b0), .C13(1'b0), .C14(1'b0),
                .C15(1'b0), .C16(1'b0), .C17(1'b0),
                .SIGNEDA(1'b1), .SIGNEDB(1'b1), .SOURCEA(1'b0), .SOURCEB(1'b0),
                .CLK0(clk), .CE0(1'b1), .RST0(1'b0),
                .P0(p36[0]), .P1(p36[1]), .P2(p36[2]), .P3(p36[3]), .P4(p36[4]), .P5(p36[5]), .P6(p36[6]),
                .P7(p36[7]), .P8(p36[8]), .P9(p36[9]), .P10(p36[10]), .P11(p36[11]), .P12(p36[12]),
                .P13(p36[13]), .P14(p36[14]), .P15(p36[15]), .P16(p36[16]), .P17(p36[17]), .P18(p36[18]),
                .P19(p36[19]), .P20(p36[20]), .P21(p36[21]), .P22(p36[22]), .P23(p36[23]), .P24(p36[24]),
                .P25(p36[25]), .P26(p36[26]), .P27(p36[27]), .P28(p36[28]), .P29(p36[29]), .P30(p36[30]),
                .P31(p36[31]), .P32(p36[32]), .P33(p36[33]), .P34(p36[34]), .P35(p36[35])
            );
`endif
        end else begin : g_fabric
            reg signed [A_W-1:0]     a_q;
            reg signed [B_W-1:0]     b_q;
            reg signed [A_W+B_W-1:0] p_q;
            always @(posedge clk) begin
                a_q <= a;
                b_q <= b;
                p_q <= a_q * b_q;
            end
            assign p = p_q;
        end
    endgenerate
endmodule

`default_nettype wire
