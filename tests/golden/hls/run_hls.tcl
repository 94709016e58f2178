# run_hls.tcl - the Vitis HLS flow of the generated model (qsnn-deploy, from sha256-d54839391dcf0ad7; do not edit).
#
#   vitis_hls -f run_hls.tcl        (from this folder; Vitis HLS is not part of qsnn-deploy and cannot run here)
#
# C simulation reads test vectors from vectors.bin beside this script; write them with
#   python -c "from qsnn_deploy.verify.vectors import write_vectors; ..."  (docs/targets/hls.md shows how).
# Part xczu7ev-ffvc1156-2-e, clock 200 MHz (--option part=... --option clock_mhz=... at codegen).

set here [file dirname [file normalize [info script]]]
set cflags "-std=c++14 -I$here"

open_project -reset qsnn_prj
set_top qsnn_top
add_files $here/qsnn_top.cpp -cflags $cflags
add_files -tb $here/qsnn_tb.cpp -cflags $cflags
add_files -tb $here/vectors.bin

open_solution -reset solution1 -flow_target vivado
set_part {xczu7ev-ffvc1156-2-e}
create_clock -period 5 -name default

csim_design -argv "vectors.bin outputs.bin"
csynth_design
cosim_design -argv "vectors.bin outputs.bin"
export_design -format ip_catalog

exit
