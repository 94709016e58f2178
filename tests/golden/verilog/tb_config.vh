// tb_config.vh - what tb_icarus.v needs to know about the generated design (qsnn-deploy; do not edit).
`define TB_TOP qsnn_top
`define TB_FRAME 256
`define TB_CLASSES 3
`define TB_CLASS_W 2
// TB_TRACE(fo): a T line for every traced neuron of this cycle, read from the trace ports of the instance `dut`
// (one per layer, or one shared); the synaptic current follows the membrane in a layer that has them
`define TB_TRACE(fo) \
    if (dut.tr0_valid) \
        for (j = 0; j < 1; j = j + 1) \
            if (dut.tr0_lanes[j]) \
                $fwrite(fo, "T %0d %0d %0d %0d %0d\n", 0, dut.tr0_index, j, \
                        dut.tr0_spikes[j], $signed(dut.tr0_membranes[32 * j +: 32])); \
    if (dut.tr1_valid) \
        for (j = 0; j < 1; j = j + 1) \
            if (dut.tr1_lanes[j]) \
                $fwrite(fo, "T %0d %0d %0d %0d %0d\n", 1, dut.tr1_index, j, \
                        dut.tr1_spikes[j], $signed(dut.tr1_membranes[32 * j +: 32])); \
    if (dut.tr2_valid) \
        for (j = 0; j < 1; j = j + 1) \
            if (dut.tr2_lanes[j]) \
                $fwrite(fo, "T %0d %0d %0d %0d %0d\n", 2, dut.tr2_index, j, \
                        dut.tr2_spikes[j], $signed(dut.tr2_membranes[32 * j +: 32])); \
    begin end
