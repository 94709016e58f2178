"""Dataset frames against a model's input shape: the same values in a flat layout are fine, anything else is
one clear line naming both shapes and the fix.

A network written with a flat input (NIR MLPs usually take ``(784,)``; the IR holds it as ``(1, 1, 784)``)
reads an image flattened in C, H, W order, which is what ``numpy.reshape`` of a C-contiguous ``(C, H, W)``
frame gives and what the IR's ``linear`` does with a map (docs/targets/nir.md, "Flat inputs").
"""

from __future__ import annotations

import numpy as np

from qsnn_deploy.errors import QsnnError


def is_flat(shape: tuple[int, ...]) -> bool:
    """Whether every size but the last is 1: ``(F,)``, ``(1, F)``, ``(1, 1, F)``."""
    return tuple(shape[:-1]) == (1,) * (len(shape) - 1)


def reshapes_to(frame: tuple[int, ...], shape: tuple[int, ...]) -> bool:
    """Whether frames of ``frame`` feed a model of input ``shape`` by a C, H, W order reshape: one side flat
    and as many values on both (the one rule for datasets, ``--inputs`` files and ``import``)."""
    return int(np.prod(frame)) == int(np.prod(shape)) and (is_flat(shape) or is_flat(frame))


def fit_frames(inputs: np.ndarray, shape: tuple[int, ...], source: str) -> np.ndarray:
    """``inputs`` (N, C, H, W) or (N, T, C, H, W) with frames of the model's ``shape`` (C, H, W): returned as
    they are when the shapes agree, reshaped (C, H, W order) when one side is flat and the element counts
    match, else a QsnnError naming both shapes and what to do."""
    frame, shape = tuple(int(v) for v in inputs.shape[-3:]), tuple(int(v) for v in shape)
    if frame == shape:
        return inputs
    count, wanted = int(np.prod(frame)), int(np.prod(shape))
    if reshapes_to(frame, shape):
        return inputs.reshape(*inputs.shape[:-3], *shape)
    if count == wanted:
        fix = (
            f"the same {count} values in another layout: re-import the graph with --input-shape "
            f"{','.join(map(str, frame))} (or export it with that input shape)"
        )
    else:
        fix = f"{count} values per frame against {wanted}: pick the dataset the model was made for with --dataset"
    raise QsnnError(f"{source} gives frames of shape {frame}, the model takes {shape}: {fix}")


__all__ = ["fit_frames", "is_flat", "reshapes_to"]
