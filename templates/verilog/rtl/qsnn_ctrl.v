// qsnn_ctrl.v - sequencer of the qsnn-deploy Verilog target: takes input frames (valid/ready, one byte per
// beat), queues their non-zero bytes as events of the first layer, runs the layers one after another every
// step, and gives each step's output spikes and, with the last step, the class (valid/ready).
//
// One inference: clear (accumulators of every layer), then per step: [load frame] (every step for a stream
// input, only at step 0 for a static one), acc(0) (skipped after step 0 for a static first layer, whose
// accumulators keep its constant current), then for each layer i: neuron(i) together with acc(i+1), which
// takes layer i's spikes as they come (upstream_busy); then the step's output beat.
// PIPELINE (every layer after the first has OVERLAP, qsnn_layer.v): the steps are pipelined over the layers
// instead. Round r runs the neuron phase of step r - i of every layer i with 0 <= r - i < steps, each together
// with acc(i + 1) of the same step, so step t+1's first layer runs while step t's second layer does (its acc
// phase waits, word by word, until the neuron phase of the layer after has read that word). A round ends when
// all its phases are done; the output beat of step r - (NUM_LAYERS - 1) follows a round that ran the last layer.
// Output spikes are collected from the last layer's trace; the class is the argmax of the spike counts over
// the steps so far, the lowest index winning ties (as the simulator's argmax), kept up to date beat by beat.
`default_nettype none

module qsnn_ctrl #(
    parameter integer NUM_LAYERS = 1,
    parameter integer STATIC = 1,       // 1: one frame per inference; 0: one frame per step (stream)
    parameter integer PIPELINE = 0,     // 1: steps pipelined over the layers (above)
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
    output wire [NUM_LAYERS-1:0]  first_step,  // layer i's neuron phase is its step 0
    input  wire [NUM_LAYERS-1:0]  done,        // clear or acc done
    input  wire [NUM_LAYERS-1:0]  ndone,       // neuron phase done
    output wire [NUM_LAYERS-1:0]  upstream_busy,
    // events of the first layer
    output reg                    ev_valid,
    output reg  [7:0]             ev_val,
    output reg  [CW-1:0]          ev_c,
    output reg  [YW-1:0]          ev_y,
    output reg  [XW-1:0]          ev_x,
    // the last layer's trace (its spikes are the output)
    input  wire                   last_tr_valid_in,
    input  wire [LAST_N_AW-1:0]   last_tr_index_in,
    input  wire [LAST_NL-1:0]     last_tr_lanes_in,
    input  wire [LAST_NL-1:0]     last_tr_spikes_in
);
    localparam integer FRAME = IN_C * IN_H * IN_W;
    // the frame walk: (c, y, x), or for a linear first layer the flat index f (whose CW bits hold FRAME - 1;
    // F_LAST is unused otherwise); the truncations below are of constants that fit
    /* verilator lint_off WIDTH */
    localparam [CW-1:0] F_LAST = FRAME - 1, C_LAST = IN_C - 1;
    localparam [YW-1:0] Y_LAST = IN_H - 1;
    localparam [XW-1:0] X_LAST = IN_W - 1;
    /* verilator lint_on WIDTH */
    localparam [NUM_LAYERS-1:0] LAYER0 = 1;
    localparam [2:0] S_IDLE = 3'd0, S_CLEAR = 3'd1, S_LOAD = 3'd2, S_ACC = 3'd3, S_NEURON = 3'd4, S_OUT = 3'd5;
    reg [2:0]            state;
    reg                  waiting;       // a phase (PIPELINE: a round) was started and its done is awaited
    reg [NUM_LAYERS-1:0] cleared;
    reg [NUM_LAYERS-1:0] running;       // neuron phases started and not done
    reg [STEPS_W-1:0]    steps_left;    // steps of this inference still to end, this one included
    reg [CW-1:0]         f, c;          // position in the frame being loaded
    reg [YW-1:0]         y;
    reg [XW-1:0]         x;
    reg [NUM_CLASSES*STEPS_W-1:0] counts;  // class k's spike count in bits k*STEPS_W +: STEPS_W
    reg [STEPS_W-1:0]    best_count;    // counts[out_class], the highest count
    reg [STEPS_W-1:0]    best_m1;       // best_count - 1 (modulo 2^STEPS_W)

    assign in_ready = (state == S_LOAD);
    assign out_valid = (state == S_OUT);
    // steps_left counts down from num_steps (0 wraps: 65,536 steps)
    assign out_last = (steps_left == {{(STEPS_W - 1){1'b0}}, 1'b1});
    assign busy = (state != S_IDLE);
    /* verilator lint_off UNUSED */
    wire [NUM_LAYERS:0] running_after = {running, 1'b0};  // layer i waits for the neuron phase of layer i - 1
    /* verilator lint_on UNUSED */
    // PIPELINE: layer 0's acc phase runs while its frame is loaded (and its last byte pushed)
    wire load_busy = PIPELINE != 0 && (state == S_LOAD || ev_valid);
    assign upstream_busy = running_after[NUM_LAYERS-1:0] | (LAYER0 & {NUM_LAYERS{load_busy}});
    wire frame_end = (FIRST_FLAT != 0) ? (f == F_LAST) : (c == C_LAST && y == Y_LAST && x == X_LAST);

    // The last layer's trace, registered where the counts are (it comes from across the chip; the count
    // update below is a cycle of its own). Its last beat of a step still lands before the output beat:
    // the layer's done pulse follows that beat by a cycle, and the output state follows the done pulse.
    reg                   last_tr_valid;
    reg [LAST_N_AW-1:0]   last_tr_index;
    reg [LAST_NL-1:0]     last_tr_lanes, last_tr_spikes;
    always @(posedge clk) begin
        last_tr_valid <= last_tr_valid_in && !rst;
        {last_tr_index, last_tr_lanes, last_tr_spikes} <= {last_tr_index_in, last_tr_lanes_in, last_tr_spikes_in};
    end

    // The class is kept up to date as the counts grow rather than searched for: when class k's count becomes
    // n, k becomes the class if n > best_count, or n == best_count and k < out_class (the lowest index wins
    // ties, as the simulator's argmax). Lanes of one beat hold distinct classes and go in lane order, so the
    // class is the argmax of the counts after every beat. The last layer is a vector: lane j is class
    // last_tr_index + j (CLASS_W == LAST_N_AW, both the width of a class index).
    wire start = (state == S_IDLE) && in_valid;  // an inference starts: the counts restart from 0
    integer j, k, m;
    reg [CLASS_W-1:0]             cls, next_class;
    reg [STEPS_W-1:0]             old, n, next_best, next_best_m1;
    reg [NUM_CLASSES-1:0]         seen;        // class k is in this beat
    reg [NUM_CLASSES-1:0]         spike;       // and spikes
    reg [NUM_CLASSES*STEPS_W-1:0] grown;       // its count after the spike
    always @* begin
        next_class = out_class;
        next_best = best_count;
        next_best_m1 = best_m1;
        seen = {NUM_CLASSES{1'b0}};
        spike = {NUM_CLASSES{1'b0}};
        grown = {(NUM_CLASSES * STEPS_W){1'b0}};
        for (j = 0; j < LAST_NL; j = j + 1) begin
            cls = last_tr_index + j[LAST_N_AW-1:0];
            old = counts[cls * STEPS_W +: STEPS_W];
            n = old + 1'b1;
            // old <= next_best, so n > next_best is old == next_best and n == next_best is old == next_best - 1:
            // two equality tests against registers instead of a subtraction and its compare (a carry chain)
            for (k = 0; k < NUM_CLASSES; k = k + 1) begin
                // lane 0's count is every class's default, so one lane needs no mux here
                if (j == 0 || cls == k[CLASS_W-1:0]) grown[k * STEPS_W +: STEPS_W] = n;
                if (cls == k[CLASS_W-1:0] && last_tr_valid && last_tr_lanes[j]) begin
                    seen[k] = 1'b1;
                    spike[k] = last_tr_spikes[j];
                end
            end
            if (last_tr_valid && last_tr_lanes[j] && last_tr_spikes[j]
                    && (old == next_best || (old == next_best_m1 && cls < next_class))) begin
                next_class = cls;
                next_best = n;
                next_best_m1 = old;
            end
        end
    end

    wire [NUM_CLASSES-1:0] grows = seen & spike;  // class k's count grows
    always @(posedge clk) begin
        for (m = 0; m < NUM_CLASSES; m = m + 1) begin
            if (seen[m]) out_spikes[m] <= spike[m];
            if (start) counts[m * STEPS_W +: STEPS_W] <= {STEPS_W{1'b0}};
            else if (grows[m]) counts[m * STEPS_W +: STEPS_W] <= grown[m * STEPS_W +: STEPS_W];
        end
        if (start) begin
            out_class <= {CLASS_W{1'b0}};
            best_count <= {STEPS_W{1'b0}};
            best_m1 <= {STEPS_W{1'b1}};
        end else begin
            out_class <= next_class;
            best_count <= next_best;
            best_m1 <= next_best_m1;
        end
    end

    generate
        if (PIPELINE == 0) begin : g_sequential
            reg                  first;     // the first step of an inference
            reg [NUM_LAYERS-1:0] finished;  // phases of this round that are done
            reg [NUM_LAYERS-1:0] layer;     // the layer of the round, one-hot
            /* verilator lint_off UNUSED */
            wire [NUM_LAYERS:0] layer_after = {layer, 1'b0};  // the next layer, zero beyond the last
            /* verilator lint_on UNUSED */
            wire [NUM_LAYERS-1:0] next_layer = layer_after[NUM_LAYERS-1:0];
            wire [NUM_LAYERS-1:0] done_any = done | ndone;  // one phase of a layer at a time
            wire [NUM_LAYERS-1:0] round_done = finished | done_any;
            wire layer_done = (done_any & layer) != {NUM_LAYERS{1'b0}};
            wire round_busy = ((layer | next_layer) & ~round_done) != {NUM_LAYERS{1'b0}};
            assign first_step = {NUM_LAYERS{first}};
            always @(posedge clk) begin
                start_clear <= 1'b0;
                start_acc <= {NUM_LAYERS{1'b0}};
                start_neuron <= {NUM_LAYERS{1'b0}};
                ev_valid <= 1'b0;
                running <= running & ~done_any;
                case (state)
                    S_IDLE: begin
                        if (in_valid) begin  // a frame is offered: start an inference
                            steps_left <= num_steps;
                            first <= 1'b1;
                            cleared <= {NUM_LAYERS{1'b0}};
                            start_clear <= 1'b1;
                            state <= S_CLEAR;
                        end
                    end
                    S_CLEAR: begin
                        cleared <= cleared | done_any;
                        if ((cleared | done_any) == {NUM_LAYERS{1'b1}}) begin
                            f <= {CW{1'b0}};
                            c <= {CW{1'b0}};
                            y <= {YW{1'b0}};
                            x <= {XW{1'b0}};
                            state <= S_LOAD;
                        end
                    end
                    S_LOAD: begin  // every walk wraps to 0 after the frame's last byte, ready for the next frame
                        if (in_valid) begin
                            ev_valid <= (in_data != 8'd0);  // only active inputs become events
                            ev_val <= in_data;
                            ev_c <= (FIRST_FLAT != 0) ? f : c;
                            ev_y <= (FIRST_FLAT != 0) ? {YW{1'b0}} : y;
                            ev_x <= (FIRST_FLAT != 0) ? {XW{1'b0}} : x;
                            f <= (f == F_LAST) ? {CW{1'b0}} : f + 1'b1;
                            x <= (x == X_LAST) ? {XW{1'b0}} : x + 1'b1;
                            if (x == X_LAST) y <= (y == Y_LAST) ? {YW{1'b0}} : y + 1'b1;
                            if (x == X_LAST && y == Y_LAST) c <= (c == C_LAST) ? {CW{1'b0}} : c + 1'b1;
                            if (frame_end) begin
                                layer <= LAYER0;
                                waiting <= 1'b0;
                                state <= S_ACC;
                            end
                        end
                    end
                    S_ACC: begin
                        if (!waiting) begin
                            start_acc <= layer;
                            waiting <= 1'b1;
                        end else if (layer_done) begin
                            waiting <= 1'b0;
                            state <= S_NEURON;
                        end
                    end
                    S_NEURON: begin  // neuron(layer) and acc(layer + 1), overlapped
                        if (!waiting) begin
                            start_neuron <= layer;
                            start_acc <= next_layer;
                            running <= (running & ~done_any) | layer;
                            finished <= {NUM_LAYERS{1'b0}};
                            waiting <= 1'b1;
                        end else if (round_busy) begin
                            finished <= finished | done_any;
                        end else begin
                            waiting <= 1'b0;
                            if (layer[NUM_LAYERS-1]) begin
                                state <= S_OUT;
                            end else begin
                                layer <= next_layer;  // its accumulators are ready
                            end
                        end
                    end
                    S_OUT: begin
                        if (out_ready) begin
                            steps_left <= steps_left - 1'b1;
                            first <= 1'b0;
                            layer <= LAYER0;
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
                    first <= 1'b1;
                    steps_left <= {{(STEPS_W - 1){1'b0}}, 1'b1};
                end
            end

        end else begin : g_pipelined
            reg [NUM_LAYERS-1:0] active;      // layers with a neuron phase this round (layer i: step r - i)
            reg [NUM_LAYERS-1:0] firsts;      // layers whose step this round is their step 0
            reg [NUM_LAYERS-1:0] nfin, afin;  // neuron and acc phases of this round that are done
            reg [STEPS_W-1:0]    fed;         // steps that layer 0 has still to run, this round's included
            reg                  acc0_done;   // layer 0's acc phase of this round is done (waiting: started)
            // the layers' done pulses registered where the round is decided (they come from across the chip)
            reg [NUM_LAYERS-1:0] done_r, ndone_r;
            // layer 0's acc phase starts once its clear is done (the first round: the clear and the frame
            // load overlap), and runs while the frame is loaded
            wire [NUM_LAYERS-1:0] cleared_now = cleared | (done_r & ~(LAYER0 & {NUM_LAYERS{waiting}}));
            /* verilator lint_off UNUSED */
            wire [NUM_LAYERS:0]  active_up = {active, 1'b0};
            /* verilator lint_on UNUSED */
            wire [NUM_LAYERS-1:0] acc_on = active_up[NUM_LAYERS-1:0];  // acc(i + 1) runs with neuron(i)
            wire [STEPS_W-1:0]   fed_after = active[0] ? fed - 1'b1 : fed;
            /* verilator lint_off UNUSED */
            wire [NUM_LAYERS:0]  active_next = {active, fed_after != {STEPS_W{1'b0}}};
            wire [NUM_LAYERS:0]  firsts_next = {firsts, 1'b0};
            /* verilator lint_on UNUSED */
            wire round_over = ((nfin | ndone_r) & active) == active && ((afin | done_r) & acc_on) == acc_on;
            assign first_step = firsts;
            always @(posedge clk) begin
                done_r <= done & {NUM_LAYERS{!rst}};
                ndone_r <= ndone & {NUM_LAYERS{!rst}};
                start_clear <= 1'b0;
                start_acc <= {NUM_LAYERS{1'b0}};
                start_neuron <= {NUM_LAYERS{1'b0}};
                ev_valid <= 1'b0;
                running <= running & ~ndone_r;
                case (state)
                    S_IDLE: begin
                        if (in_valid) begin  // a frame is offered: start an inference
                            steps_left <= num_steps;
                            fed <= num_steps;
                            active <= LAYER0;
                            firsts <= LAYER0;
                            cleared <= {NUM_LAYERS{1'b0}};
                            start_clear <= 1'b1;
                            f <= {CW{1'b0}};
                            c <= {CW{1'b0}};
                            y <= {YW{1'b0}};
                            x <= {XW{1'b0}};
                            waiting <= 1'b0;
                            acc0_done <= 1'b0;
                            state <= S_LOAD;
                        end
                    end
                    S_LOAD: begin  // every walk wraps to 0 after the frame's last byte, ready for the next frame
                        cleared <= cleared_now;
                        if (!waiting && cleared_now[0]) begin
                            start_acc <= LAYER0;
                            waiting <= 1'b1;
                        end
                        if (in_valid) begin
                            ev_valid <= (in_data != 8'd0);  // only active inputs become events
                            ev_val <= in_data;
                            ev_c <= (FIRST_FLAT != 0) ? f : c;
                            ev_y <= (FIRST_FLAT != 0) ? {YW{1'b0}} : y;
                            ev_x <= (FIRST_FLAT != 0) ? {XW{1'b0}} : x;
                            f <= (f == F_LAST) ? {CW{1'b0}} : f + 1'b1;
                            x <= (x == X_LAST) ? {XW{1'b0}} : x + 1'b1;
                            if (x == X_LAST) y <= (y == Y_LAST) ? {YW{1'b0}} : y + 1'b1;
                            if (x == X_LAST && y == Y_LAST) c <= (c == C_LAST) ? {CW{1'b0}} : c + 1'b1;
                            if (frame_end) state <= S_ACC;
                        end
                    end
                    S_ACC: begin  // layer 0's accumulators: every step of a stream input, step 0 of a static one
                        cleared <= cleared_now;
                        if (!waiting && cleared_now[0]) begin  // a clear that outlasted the frame
                            start_acc <= LAYER0;
                            waiting <= 1'b1;
                        end
                        if (waiting && done_r[0]) acc0_done <= 1'b1;
                        if ((acc0_done || (waiting && done_r[0])) && cleared_now == {NUM_LAYERS{1'b1}}) begin
                            waiting <= 1'b0;
                            acc0_done <= 1'b0;
                            state <= S_NEURON;
                        end
                    end
                    S_NEURON: begin  // one round
                        if (!waiting) begin
                            start_neuron <= active;
                            start_acc <= acc_on;
                            running <= (running & ~ndone_r) | active;
                            nfin <= {NUM_LAYERS{1'b0}};
                            afin <= {NUM_LAYERS{1'b0}};
                            waiting <= 1'b1;
                        end else if (!round_over) begin
                            nfin <= nfin | ndone_r;
                            afin <= afin | done_r;
                        end else begin
                            waiting <= 1'b0;
                            if (active[NUM_LAYERS-1]) begin
                                state <= S_OUT;
                            end else begin
                                fed <= fed_after;
                                active <= active_next[NUM_LAYERS-1:0];
                                firsts <= firsts_next[NUM_LAYERS-1:0];
                                state <= (active_next[0] && STATIC == 0) ? S_LOAD : S_NEURON;
                            end
                        end
                    end
                    S_OUT: begin
                        if (out_ready) begin
                            steps_left <= steps_left - 1'b1;
                            fed <= fed_after;
                            active <= active_next[NUM_LAYERS-1:0];
                            firsts <= firsts_next[NUM_LAYERS-1:0];
                            if (out_last) state <= S_IDLE;
                            else state <= (active_next[0] && STATIC == 0) ? S_LOAD : S_NEURON;
                        end
                    end
                    default: state <= S_IDLE;
                endcase
                if (rst) begin
                    state <= S_IDLE;
                    waiting <= 1'b0;
                    running <= {NUM_LAYERS{1'b0}};
                    steps_left <= {{(STEPS_W - 1){1'b0}}, 1'b1};
                end
            end
        end
    endgenerate

endmodule

`default_nettype wire
