"""``safe_label``: a string from an input file reaches generated code only as a whitelisted label or a hash
(docs/trust-model.md). The payloads are the families of issue 12: each one ends, splices or escapes a comment
in some language the targets write."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qsnn_deploy.errors import IRFormatError
from qsnn_deploy.targets.text import MAX_LABEL, safe_label, source_label

OUTPUT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")
HASHED = re.compile(r"sha256-[0-9a-f]{16}\Z")

PAYLOADS = {
    "comment end": "x */ int evil; /*",
    "star backslash newline": "x *\\\n/ int evil; /*",
    "backslash newline at the end": "model.pt\\\n",
    "trigraph backslash": "x *??/\n/ int evil; /*",
    "trigraph alone": "??/",
    "carriage return": "x\rint evil;\r",
    "preprocessor line": 'x\n#include "/etc/passwd"\n',
    "hash at the start": "#define qsnn_run evil",
    "line separator": "x\u2028int evil;",
    "paragraph separator": "x\u2029int evil;",
    "NUL": "x\x00*/ int evil; /*",
    "Verilog comment": "x // \n endmodule",
    "shell substitution": "$(touch /tmp/evil)",
    "leading dash": "-rf",
    "dot dot": "..",
    "too long": "a" * (MAX_LABEL + 1),
    "empty": "",
    "non-ASCII digit": "model\u0663",
    "lone surrogate": "x\udcff",
}


@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_every_payload_becomes_a_hash(payload):
    label = safe_label(payload)
    assert HASHED.match(label), label


@pytest.mark.parametrize(
    ("value", "label"),
    [
        ("model.pt", "model.pt"),
        ("runs/mnist/model.pt", "model.pt"),
        ("C:\\runs\\model-4bit_v2.pt", "model-4bit_v2.pt"),
        ("synthetic", "synthetic"),
        ("a" * MAX_LABEL, "a" * MAX_LABEL),
        (7, "7"),
    ],
)
def test_plain_names_and_the_last_path_component_pass_unchanged(value, label):
    assert safe_label(value) == label


def test_a_path_whose_last_component_is_unsafe_is_hashed_whole():
    # The hash covers the whole text, so two folders with the same unsafe file name stay apart.
    a, b = safe_label("a/x y.pt"), safe_label("b/x y.pt")
    assert HASHED.match(a) and HASHED.match(b) and a != b


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(max_size=80))
def test_any_text_gives_a_whitelisted_bounded_deterministic_label(text):
    label = safe_label(text)
    assert OUTPUT.match(label) and len(label) <= MAX_LABEL
    assert safe_label(text) == label
    assert label == text.replace("\\", "/").split("/")[-1] or HASHED.match(label)


@pytest.mark.parametrize(
    ("metadata", "label"),
    [
        ({"source": "synthetic:tiny:4"}, None),  # ':' is not in the whitelist
        ({"source": "tiny4"}, "tiny4"),
        ({"source": {"checkpoint": "/work/runs/model.pt", "arch": "auto"}}, "model.pt"),
        ({"source": {"arch": "auto"}}, "unknown"),
        ({}, "unknown"),
    ],
)
def test_source_label_reads_the_typed_source(metadata, label):
    result = source_label(metadata)
    assert result == label if label else HASHED.match(result)


def test_source_label_of_a_mistyped_source_is_a_typed_error():
    with pytest.raises(IRFormatError, match="metadata.source"):
        source_label({"source": ["a", "list"]})
