"""Interoperability with other neuromorphic tools through NIR (the Neuromorphic Intermediate Representation).

nir_export.py writes an IR graph as a NIR graph (target ``nir``); nir_import.py turns a NIR graph into the IR
(``qsnn-deploy import``); torch_nir.py writes a class-based torch + snnTorch network as NIR. conventions.py
holds what both directions share (the time step, the LIF parameter mapping). docs/targets/nir.md describes the
mapping and what NIR cannot carry. The ``nir`` package is imported only inside functions.
"""
