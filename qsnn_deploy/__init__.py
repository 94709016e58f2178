"""qsnn-deploy: quantized spiking neural networks from training to microcontrollers and FPGAs, bit for bit."""

import os

__version__ = "0.1.0"

# Layer-by-layer training allocates (T*B, ...) tensors of ~100 MB several times per iteration. In 4 KiB pages,
# first-touching them cost more than the LIF arithmetic (measured: 43 ms to fill a fresh 118 MB tensor, 8 ms
# with huge pages), so torch is asked to back large CPU tensors with transparent huge pages. torch reads this
# once, at its first allocation: it only takes effect when qsnn_deploy is imported before torch, as the CLI
# does. Numerics are unaffected. Set THP_MEM_ALLOC_ENABLE=0 to opt out.
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
