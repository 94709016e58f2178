// qsnn_ctrl.v - sequencer of the qsnn-deploy Verilog target: takes input frames (valid/ready, one byte per
// beat), queues their non-zero bytes as events of the first layer, runs the layers one after another every
// step, and gives each step's output spikes and, with the last step, the class (valid/ready).
//
// One inference: clear (accumulators of every layer), then per step: [load frame] (every step for a stream
// input, only at step 0 for a static one), acc(0) (skipped after step 0 for a static first layer, whose
// accumulators keep its constant current), then for each layer i: neuron(i) together with acc(i+1), which
// takes layer i's spikes as they come (upstream_busy); then the step's output beat.
// Output spikes are collected from the last layer's trace; the class is the argmax of the spike counts over
// the steps so far, the lowest index winning ties (as the simulator's argmax).
`default_nettype none

module qsnn_ctrl #(
    parameter integer NUM_LAYERS = 1,
    parameter integer STATIC = 1,       // 1: one frame per inference; 0: one frame per step (stream)
    parameter integer IN_C = 1,
    parameter integer IN_H = 1,
    parameter integer IN_W = 1,
    parameter integer FIRST_FLAT = 0,   // 1: the first layer is linear (events carry the flat index)
    parameter integer NUM_CLASSES = 2,
    parameter integer LAST_N_AW = 1,    // index width of the last layer's trace
    parameter integer LAST_NL = 1,      // neurons per trace beat of the last layer
    parameter integer CLASS_W = 1,
    parameter integer STEPS_W = 16,
    // event widths of the first layer
    parameter integer CW = 1,
    parameter integer YW = 1,
    parameter integer XW = 1
) (
    input  wire                   clk,
    input  wire                   rst,
    input  wire [STEPS_W-1:0]     num_steps,   // sampled when an inference starts; at least 1
    // input frames
    input  wire                   in_valid,
    output wire                   in_ready,
    input  wire [7:0]             in_data,
    // output: one beat per step
    output wire                   out_valid,
    input  wire                   out_ready,
    output reg  [NUM_CLASSES-1:0] out_spikes,
    output wire                   out_last,
    output reg  [CLASS_W-1:0]     out_class,
    output wire                   busy,
    // layer control
    output reg                    start_clear,
    output reg  [NUM_LAYERS-1:0]  start_acc,
    output reg  [NUM_LAYERS-1:0]  start_neuron,
    output wire                   first_step,
    input  wire [NUM_LAYERS-1:0]  done,
    output wire [NUM_LAYERS-1:0]  upstream_busy,
    // events of the first layer
    output reg                    ev_valid,
    output reg  [7:0]             ev_val,
    output reg  [CW-1:0]          ev_c,
    output reg  [YW-1:0]          ev_y,
    output reg  [XW-1:0]          ev_x,
    // the last layer's trace (its spikes are the output)
    input  wire                   last_tr_valid,
    input  wire [LAST_N_AW-1:0]   last_tr_index,
    input  wire [LAST_NL-1:0]     last_tr_lanes,
    input  wire [LAST_NL-1:0]     last_tr_spikes
);
    localparam integer FRAME = IN_C * IN_H * IN_W;
    localparam [2:0] S_IDLE = 3'd0, S_CLEAR = 3'd1, S_LOAD = 3'd2, S_ACC = 3'd3, S_NEURON = 3'd4, S_OUT = 3'd5;
    reg [2:0]            state;
    reg                  waiting;       // a phase was started and its done is awaited
    reg [NUM_LAYERS-1:0] cleared;
    reg [NUM_LAYERS-1:0] running;       // neuron phases started and not done
    reg [NUM_LAYERS-1:0] finished;      // phases of this round that are done
    reg [31:0]           layer;
    reg [STEPS_W-1:0]    step, steps;
    reg [31:0]           f, c, y, x;     // position in the frame being loaded
    reg [STEPS_W-1:0]    counts [0:NUM_CLASSES-1];

    assign in_ready = (state == S_LOAD);
    assign out_valid = (state == S_OUT);
    assign out_last = (step == steps - 1'b1);
    assign busy = (state != S_IDLE);
    assign first_step = (step == {STEPS_W{1'b0}});
    /* verilator lint_off UNUSED */
    wire [NUM_LAYERS:0] running_after = {running, 1'b0};  // layer i waits for the neuron phase of layer i - 1
    /* verilator lint_on UNUSED */
    assign upstream_busy = running_after[NUM_LAYERS-1:0];

    // argmax of the counts, lowest index on ties
    integer k, kk;
    reg [STEPS_W-1:0] best;
    always @* begin
        best = counts[0];
        out_class = {CLASS_W{1'b0}};
        for (k = 1; k < NUM_CLASSES; k = k + 1) begin
            if (counts[k] > best) begin
                best = counts[k];
                out_class = k[CLASS_W-1:0];
            end
        end
    end

    /* verilator lint_off UNUSED */
    wire [31:0] layer_done = {{(32 - NUM_LAYERS){1'b0}}, done} >> layer;
    wire [31:0] round_done = {{(32 - NUM_LAYERS){1'b0}}, finished | done} >> layer;
    wire [31:0] one_hot = 32'd1 << layer;
    wire [31:0] next_hot = 32'd2 << layer;  // zero beyond the last layer
    /* verilator lint_on UNUSED */

    always @(posedge clk) begin
        start_clear <= 1'b0;
        start_acc <= {NUM_LAYERS{1'b0}};
        start_neuron <= {NUM_LAYERS{1'b0}};
        ev_valid <= 1'b0;
        running <= running & ~done;
        if (last_tr_valid) begin  // the last layer is a vector: lane j is class last_tr_index + j
            for (kk = 0; kk < LAST_NL; kk = kk + 1) begin
                if (last_tr_lanes[kk]) begin
                    out_spikes[last_tr_index + kk[LAST_N_AW-1:0]] <= last_tr_spikes[kk];
                    if (last_tr_spikes[kk])
                        counts[last_tr_index + kk[LAST_N_AW-1:0]] <= counts[last_tr_index + kk[LAST_N_AW-1:0]] + 1'b1;
                end
            end
        end
        case (state)
            S_IDLE: begin
                if (in_valid) begin  // a frame is offered: start an inference
                    steps <= num_steps;
                    step <= {STEPS_W{1'b0}};
                    for (k = 0; k < NUM_CLASSES; k = k + 1) counts[k] <= {STEPS_W{1'b0}};
                    cleared <= {NUM_LAYERS{1'b0}};
                    start_clear <= 1'b1;
                    state <= S_CLEAR;
                end
            end
            S_CLEAR: begin
                cleared <= cleared | done;
                if ((cleared | done) == {NUM_LAYERS{1'b1}}) begin
                    {f, c, y, x} <= {4{32'd0}};
                    state <= S_LOAD;
                end
            end
            S_LOAD: begin
                if (in_valid) begin
                    ev_valid <= (in_data != 8'd0);  // only active inputs become events
                    ev_val <= in_data;
                    ev_c <= (FIRST_FLAT != 0) ? f[CW-1:0] : c[CW-1:0];
                    ev_y <= (FIRST_FLAT != 0) ? {YW{1'b0}} : y[YW-1:0];
                    ev_x <= (FIRST_FLAT != 0) ? {XW{1'b0}} : x[XW-1:0];
                    f <= f + 1;
                    x <= (x == IN_W - 1) ? 32'd0 : x + 1;
                    if (x == IN_W - 1) y <= (y == IN_H - 1) ? 32'd0 : y + 1;
                    if (x == IN_W - 1 && y == IN_H - 1) c <= c + 1;
                    if (f == FRAME - 1) begin
                        layer <= 32'd0;
                        waiting <= 1'b0;
                        state <= S_ACC;
                    end
                end
            end
            S_ACC: begin
                if (!waiting) begin
                    start_acc <= one_hot[NUM_LAYERS-1:0];
                    waiting <= 1'b1;
                end else if (layer_done[0]) begin
                    waiting <= 1'b0;
                    state <= S_NEURON;
                end
            end
            S_NEURON: begin  // neuron(layer) and acc(layer + 1), overlapped
                if (!waiting) begin
                    start_neuron <= one_hot[NUM_LAYERS-1:0];
                    start_acc <= next_hot[NUM_LAYERS-1:0];
                    running <= (running & ~done) | one_hot[NUM_LAYERS-1:0];
                    finished <= {NUM_LAYERS{1'b0}};
                    waiting <= 1'b1;
                end else if (!round_done[0] || (layer < NUM_LAYERS - 1 && !round_done[1])) begin
                    finished <= finished | done;
                end else begin
                    waiting <= 1'b0;
                    if (layer == NUM_LAYERS - 1) begin
                        state <= S_OUT;
                    end else begin
                        layer <= layer + 1;  // its accumulators are ready
                    end
                end
            end
            S_OUT: begin
                if (out_ready) begin
                    step <= step + 1'b1;
                    layer <= 32'd0;
                    {f, c, y, x} <= {4{32'd0}};
                    if (out_last) state <= S_IDLE;
                    else if (STATIC != 0) state <= S_NEURON;  // the first layer's current is kept
                    else state <= S_LOAD;
                end
            end
            default: state <= S_IDLE;
        endcase
        if (rst) begin
            state <= S_IDLE;
            waiting <= 1'b0;
            running <= {NUM_LAYERS{1'b0}};
            step <= {STEPS_W{1'b0}};
            steps <= {{(STEPS_W - 1){1'b0}}, 1'b1};
        end
    end
endmodule

`default_nettype wire
