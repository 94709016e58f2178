"""Every target labels a model's source the same way (issue 24, item 4): through ``source_label``
(targets/text.py), so a model exported from ``runs/x/model.pt`` says ``from model.pt`` in the C, the HLS and the
Verilog files alike. The Verilog target once hashed the whole ``source`` object instead
(``from sha256-...``), and the injection tests, which blanked every hashed label, did not see it."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from qsnn_deploy.ir.graph import Graph
from qsnn_deploy.ir.synthetic import random_graph
from qsnn_deploy.targets import generate, target_names
from qsnn_deploy.targets.text import HASH_PREFIX, source_label

# How a file says where its model came from: "(qsnn-deploy, from <label>; do not edit)" and its variants.
FROM = re.compile(rb"qsnn-deploy, from ([^;\s]+);")

SOURCES = {
    "checkpoint": {"checkpoint": "runs/x/model.pt", "sha256": "0" * 64, "arch": "auto"},
    "plain label": "synthetic:tiny:0",
    "unsafe label": "x */ evil /*",
    "none": None,
}
EXPECTED = {
    "checkpoint": "model.pt",
    "plain label": source_label({"source": "synthetic:tiny:0"}),
    "unsafe label": source_label({"source": "x */ evil /*"}),
    "none": "unknown",
}
# The targets whose files carry a source label at all (ONNX and NIR files have no comment that names it).
LABELLING = {"c", "hls", "verilog"}


def _with_source(source: object) -> Graph:
    graph = random_graph("tiny", 0, num_steps=2)
    metadata = {k: v for k, v in graph.metadata.items() if k != "source"}
    if source is not None:
        metadata["source"] = source
    return replace(graph, metadata=metadata)


def _labels(folder: Path) -> dict[str, set[str]]:
    """File name -> the source labels it states."""
    found = {}
    for path in sorted(folder.iterdir()):
        labels = {m.decode() for m in FROM.findall(path.read_bytes())}
        if labels:
            found[path.name] = labels
    return found


@pytest.mark.parametrize("kind", SOURCES)
def test_every_target_labels_one_source_alike(tmp_path, kind) -> None:
    graph = _with_source(SOURCES[kind])
    expected = EXPECTED[kind]
    labelled = set()
    for target in target_names():
        labels = _labels(Path(tmp_path / target)) if generate(graph, target, tmp_path / target) else {}
        for name, found in labels.items():
            assert found == {expected}, (target, name, found)
        if labels:
            labelled.add(target)
    assert labelled == LABELLING


def test_the_expected_labels_are_what_source_label_gives() -> None:
    assert EXPECTED["checkpoint"] == source_label({"source": SOURCES["checkpoint"]})
    assert EXPECTED["none"] == source_label({})
    assert EXPECTED["unsafe label"].startswith(HASH_PREFIX)
    assert EXPECTED["plain label"].startswith(HASH_PREFIX)  # ':' is not in the whitelist
