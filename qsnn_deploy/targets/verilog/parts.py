"""The FPGA parts the Verilog target's memory and multiplier rules know (``--option part``), and the estimate of
what a design takes of them: block RAMs per memory (``blocks_for``) and multiplier blocks (``dsp_estimate``).
The estimate decides before synthesis whether a design fits; ``report`` measures with Yosys and nextpnr.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # layout.py reads SHALLOW_DEPTH
    from qsnn_deploy.targets.verilog.layout import LayerParams

# Block RAM of the parts the report and the memory rule know: (width, depth) configurations of one block.
ECP5_BRAM = ((36, 512), (18, 1024), (9, 2048), (4, 4096), (2, 8192), (1, 16384))
PARTS = {  # block RAMs and their configurations; multipliers and their (signed) operand width
    "ecp5-25k": {"blocks": 56, "configs": ECP5_BRAM, "dsps": 28, "dsp_bits": 18},
    "ecp5-45k": {"blocks": 108, "configs": ECP5_BRAM, "dsps": 72, "dsp_bits": 18},
    "ecp5-85k": {"blocks": 208, "configs": ECP5_BRAM, "dsps": 156, "dsp_bits": 18},
    # 8 SB_MAC16 (16 x 16). Its 4 SPRAMs are not counted here: they have no initial contents, so no ROM of
    # arch=layered fits them; arch=serial puts its weights and membranes there (serial.SPRAM_MEMORIES)
    "up5k": {"blocks": 30, "configs": ((16, 256), (8, 512), (4, 1024), (2, 2048)), "dsps": 8, "dsp_bits": 16},
}  # fmt: skip
DEFAULT_PART = "ecp5-25k"
SMALL_MEMORY_BITS = 1024  # memories this small go to LUT RAM or flip-flops, not block RAM
SHALLOW_DEPTH = 64  # and so do written memories this shallow (Yosys: the MNIST model's 208 x 64 accumulators)
ROM_LUT_DEPTH = 16  # and ROMs this shallow: each output bit is one LUT4 of the address
ROMS = ("weights", "requant", "rec_weights", "rec_mults")


def blocks_for(width: int, depth: int, part: str, rom: bool = True) -> int:
    """Block RAMs one memory takes on ``part``: the best single configuration, none for small memories, shallow
    written ones (LUT RAM) and ROMs of at most 16 words (LUT4s). Yosys maps a little differently (its cost
    rules pick some shallow ROMs for block RAM): the rule is an estimate, the report measures."""
    if width * depth <= SMALL_MEMORY_BITS or depth <= (ROM_LUT_DEPTH if rom else SHALLOW_DEPTH):
        return 0
    return min(-(-width // w) * -(-depth // d) for w, d in PARTS[part]["configs"])


def block_estimate(params: list[LayerParams], part: str) -> int:
    return sum(blocks_for(w, d, part, name in ROMS) for p in params for name, (w, d) in p.memories().items())


def dsp_estimate(params: list[LayerParams], part: str) -> int:
    """Multiplier blocks: per neuron lane, the requantize multiply (ACC_W x MUL_W) and the decay multiply
    (STATE_W x DM_W+1), with a synaptic current its decay (SYN_W x its multiplier's bits + 1), with recurrent
    weights their rescale (RACC_W x RMUL_W), each split into DSP-sized pieces (Yosys on ECP5: 4 per lane for the MNIST model)."""
    bits = PARTS[part]["dsp_bits"]

    def pieces(a: int, b: int) -> int:
        return -(-a // bits) * -(-b // bits)

    def current_pieces(p: LayerParams) -> int:  # qsnn_cneuron: the synaptic decay and the recurrent rescale
        syn = pieces(p.SYN_W, p.SYN_MULT.bit_length() + 1) if p.SYN else 0
        return syn + (pieces(p.RACC_W, p.RMUL_W) if p.REC else 0)

    return sum(
        p.NLANES * (pieces(p.ACC_W, p.MUL_W) + pieces(p.STATE_W, p.DM_W + 1) + current_pieces(p))
        for p in params
    )
