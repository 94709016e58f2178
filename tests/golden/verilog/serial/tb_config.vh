// tb_config.vh - what tb_icarus.v needs to know about the generated design (qsnn-deploy; do not edit).
`define TB_TOP qsnn_top
`define TB_FRAME 256
`define TB_CLASSES 3
`define TB_CLASS_W 2
`define TB_LAYER_W 2
`define TB_INDEX_W 8
`define TB_LANES 1
`define TB_LOAD_WORDS 129
`define TB_LOAD_BYTES 2
`define TB_LOAD_FILE "qsnn_weights.hex"
