// tb_config.vh - what tb_icarus.v needs to know about the generated design (qsnn-deploy; do not edit).
`define TB_TOP qsnn_top
`define TB_FRAME 256
`define TB_CLASSES 3
`define TB_CLASS_W 2
`define TB_LOAD_WORDS 129
`define TB_LOAD_BYTES 2
`define TB_LOAD_FILE "qsnn_weights.hex"
// TB_TRACE(fo): a T line for every traced neuron of this cycle, read from the trace ports of the instance `dut`
// (one per layer, or one shared); the synaptic current follows the membrane in a layer that has them
`define TB_TRACE(fo) \
    if (dut.tr_valid) \
        for (j = 0; j < 1; j = j + 1) \
            if (dut.tr_lanes[j]) \
                $fwrite(fo, "T %0d %0d %0d %0d %0d\n", dut.tr_layer, dut.tr_index, j, \
                        dut.tr_spikes[j], $signed(dut.tr_membranes[32 * j +: 32])); \
    begin end
