"""``compare_records``, the verifier's judge, one test per branch: records built by the simulator on a small
synthetic graph, then perturbed the way a wrong executor would be. Each failure must name the first difference
(layer, sample, step, neuron, both values) so a user can find it; each pass must count what it compared."""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest

from qsnn_deploy.errors import VerificationError
from qsnn_deploy.ir.ops import LIF
from qsnn_deploy.ir.synthetic import random_graph, random_inputs
from qsnn_deploy.sim.executor import simulate
from qsnn_deploy.verify.compare import compare_records
from qsnn_deploy.verify.record import LayerTrace, Record, digests_of, record_of_simulation

SAMPLES, STEPS = 3, 5
WHERE = "test/executor"


@pytest.fixture(scope="module")
def sim_record() -> Record:
    """The simulator's record of the tiny conv-conv-linear graph: layers lif1 (144), lif2 (4), lif3 (3)."""
    graph = random_graph("tiny", seed=0, num_steps=STEPS)
    result = simulate(graph, random_inputs(graph, SAMPLES), record=True, workers=1)
    layers = [op.name for op in graph.ops if isinstance(op, LIF)]
    return record_of_simulation(result, layers)


@pytest.fixture
def want(sim_record: Record) -> Record:
    return copy.deepcopy(sim_record)


@pytest.fixture
def got(sim_record: Record) -> Record:
    """An executor's record, equal to the simulator's until a test perturbs it."""
    return copy.deepcopy(sim_record)


def _fails(want: Record, got: Record, message: str, offset: int = 0) -> None:
    with pytest.raises(VerificationError, match=f"^{re.escape(WHERE + ': ' + message)}$"):
        compare_records(want, got, WHERE, offset)


def test_identical_records_pass_and_count_every_value(want: Record, got: Record) -> None:
    done = compare_records(want, got, WHERE)
    assert done.samples == SAMPLES
    assert done.output_spikes == SAMPLES * STEPS * 3
    # spikes and membranes of every layer, in full: 2 x N x T x (144 + 4 + 3)
    assert done.layer_values == 2 * SAMPLES * STEPS * (144 + 4 + 3)
    assert done.layer_digests == 0


def test_flipped_spike_is_named_by_layer_sample_step_and_neuron(want: Record, got: Record) -> None:
    spikes = got.layers["lif1"].spikes
    before = int(spikes[1, 3, 17])
    spikes[1, 3, 17] ^= 1
    _fails(
        want,
        got,
        f"layer 'lif1' spike differs at sample 1, step 3, neuron 17: {1 - before} vs simulator {before}",
    )


def test_changed_membrane_is_named_by_layer_sample_step_and_neuron(want: Record, got: Record) -> None:
    membranes = got.layers["lif2"].membranes
    before = int(membranes[2, 4, 1])
    membranes[2, 4, 1] += 1
    _fails(
        want,
        got,
        f"layer 'lif2' membrane differs at sample 2, step 4, neuron 1: {before + 1} vs simulator {before}",
    )


def test_first_difference_is_the_earliest_layer_then_spikes_then_the_lowest_index(
    want: Record, got: Record
) -> None:
    got.layers["lif3"].spikes[0, 0, 0] ^= 1  # a later layer: not reported
    got.layers["lif1"].membranes[0, 0, 0] += 5  # same layer, membranes: reported after spikes
    got.layers["lif1"].spikes[2, 1, 9] ^= 1  # later in (sample, step, neuron) order
    got.layers["lif1"].spikes[0, 4, 100] ^= 1  # the first spike difference in C order
    got.output_spikes[0, 0, 0] ^= 1  # outputs are checked after every layer
    before = int(want.layers["lif1"].spikes[0, 4, 100])
    _fails(
        want,
        got,
        f"layer 'lif1' spike differs at sample 0, step 4, neuron 100: {1 - before} vs simulator {before}",
    )


def test_offset_names_the_sample_in_the_whole_set(want: Record, got: Record) -> None:
    got.layers["lif2"].spikes[1, 0, 2] ^= 1
    before = int(want.layers["lif2"].spikes[1, 0, 2])
    _fails(
        want,
        got,
        f"layer 'lif2' spike differs at sample 41, step 0, neuron 2: {1 - before} vs simulator {before}",
        40,
    )


def test_layer_in_another_shape_of_the_same_size_is_compared_flat(want: Record, got: Record) -> None:
    # An executor may send a layer as (N, T, C, H, W); what counts is the IR's (C, H, W) order.
    trace = got.layers["lif1"]
    got.layers["lif1"] = LayerTrace(
        trace.spikes.reshape(SAMPLES, STEPS, 4, 6, 6), trace.membranes.reshape(SAMPLES, STEPS, 4, 6, 6)
    )
    assert compare_records(want, got, WHERE).layer_values == 2 * SAMPLES * STEPS * 151
    got.layers["lif1"].membranes[1, 2, 3, 4, 5] -= 1
    neuron = 3 * 36 + 4 * 6 + 5
    before = int(want.layers["lif1"].membranes[1, 2, neuron])
    _fails(
        want,
        got,
        f"layer 'lif1' membrane differs at sample 1, step 2, neuron {neuron}: {before - 1} vs simulator {before}",
    )


def test_layer_with_missing_neurons_is_a_shape_error(want: Record, got: Record) -> None:
    trace = got.layers["lif1"]
    got.layers["lif1"] = LayerTrace(trace.spikes[:, :, :-1], trace.membranes)
    _fails(
        want,
        got,
        f"layer 'lif1' spikes have shape ({SAMPLES}, {STEPS}, 143), expected ({SAMPLES}, {STEPS}, 144)",
    )


def test_layer_with_fewer_steps_is_a_shape_error(want: Record, got: Record) -> None:
    trace = got.layers["lif3"]
    got.layers["lif3"] = LayerTrace(trace.spikes, trace.membranes[:, : STEPS - 1])
    _fails(
        want,
        got,
        f"layer 'lif3' membranes have shape ({SAMPLES}, {STEPS - 1}, 3), expected ({SAMPLES}, {STEPS}, 3)",
    )


@pytest.mark.parametrize(
    "cut", [np.s_[:, : STEPS - 1], np.s_[: SAMPLES - 1], np.s_[:, :, :2]], ids=["steps", "samples", "classes"]
)
def test_output_spikes_of_another_shape_are_refused_first(want: Record, got: Record, cut) -> None:
    got.output_spikes = got.output_spikes[cut]
    got.layers["lif1"].spikes[0, 0, 0] ^= 1  # shape is checked before any layer
    _fails(want, got, f"output spikes have shape {got.output_spikes.shape}, expected ({SAMPLES}, {STEPS}, 3)")


def test_layer_the_executor_did_not_record_is_an_error(want: Record, got: Record) -> None:
    del got.layers["lif2"]
    _fails(want, got, "the executor recorded nothing for layer 'lif2'")


def test_layer_the_simulator_does_not_have_is_not_compared(want: Record, got: Record) -> None:
    # The simulator's layers are the reference set; an executor's extra trace (a debug probe) is ignored.
    extra = np.ones((SAMPLES, STEPS, 2), dtype=np.int64)
    got.layers["probe"] = LayerTrace(extra.astype(np.uint8), extra)
    assert compare_records(want, got, WHERE).layer_values == 2 * SAMPLES * STEPS * 151


def _as_digests(record: Record, name: str) -> None:
    """Replace a full layer by its per-step CRC-32s, as the Cortex-M firmware sends it."""
    record.digests[name] = digests_of(record.layers.pop(name))


def test_matching_digests_pass_and_are_counted(want: Record, got: Record) -> None:
    _as_digests(got, "lif1")
    done = compare_records(want, got, WHERE)
    assert done.layer_digests == SAMPLES * STEPS
    assert done.layer_values == 2 * SAMPLES * STEPS * (4 + 3)


def test_differing_digest_names_sample_and_step_with_both_crcs(want: Record, got: Record) -> None:
    got.layers["lif1"].membranes[2, 3, 50] += 1
    _as_digests(got, "lif1")
    crc = f"{int(got.digests['lif1'][2, 3]):08x}"
    expected = f"{int(digests_of(want.layers['lif1'])[2, 3]):08x}"
    assert crc != expected
    _fails(
        want,
        got,
        f"layer 'lif1' state differs at sample 7, step 3 (CRC-32 {crc} vs simulator {expected}); run the host "
        "executor on this sample to see the neuron",
        offset=5,
    )


def test_digests_of_another_shape_are_refused(want: Record, got: Record) -> None:
    _as_digests(got, "lif2")
    got.digests["lif2"] = got.digests["lif2"][:, 1:]
    _fails(
        want, got, f"layer 'lif2' digests have shape ({SAMPLES}, {STEPS - 1}), expected ({SAMPLES}, {STEPS})"
    )


def test_full_trace_is_preferred_to_digests(want: Record, got: Record) -> None:
    # Both sent: the full trace names the neuron, so it is the one compared; stale digests do not matter.
    got.digests["lif1"] = np.zeros((SAMPLES, STEPS), dtype=np.uint32)
    done = compare_records(want, got, WHERE)
    assert (done.layer_values, done.layer_digests) == (2 * SAMPLES * STEPS * 151, 0)


def test_output_spike_differing_alone_is_named(want: Record, got: Record) -> None:
    got.output_spikes[1, 2, 0] ^= 1
    before = int(want.output_spikes[1, 2, 0])
    _fails(
        want, got, f"output spike differs at sample 1, step 2, neuron 0: {1 - before} vs simulator {before}"
    )


def test_differing_count_is_named(want: Record, got: Record) -> None:
    got.counts = want.counts.copy()
    got.counts[2, 1] += 3
    before = int(want.counts[2, 1])
    _fails(want, got, f"spike count differs at sample 2, neuron 1: {before + 3} vs simulator {before}")


def test_differing_prediction_is_named(want: Record, got: Record) -> None:
    got.predictions = want.predictions.copy()
    got.predictions[1] = (want.predictions[1] + 1) % 3
    _fails(
        want,
        got,
        f"prediction differs at sample 1: {int(got.predictions[1])} vs simulator {int(want.predictions[1])}",
    )


def test_counts_and_predictions_are_optional(want: Record, got: Record) -> None:
    # An executor that sends only spikes (the Verilog testbench) is judged on those.
    got.counts = got.predictions = None
    want.counts = want.counts + 1  # would fail if compared
    assert compare_records(want, got, WHERE).output_spikes == SAMPLES * STEPS * 3


@pytest.fixture(scope="module")
def synaptic_record() -> Record:
    """The simulator's record of the tiny graph with a synaptic current before every LIF (IR version 3)."""
    graph = random_graph("tiny", seed=5, num_steps=STEPS, state_bits=16, synaptic=(3, 2))
    result = simulate(graph, random_inputs(graph, SAMPLES), record=True, workers=1)
    currents = {op.name: f"syn_{op.name}" for op in graph.lif_layers()}
    return record_of_simulation(result, list(currents), currents)


def test_synaptic_currents_are_compared_and_counted(synaptic_record: Record) -> None:
    want, got = copy.deepcopy(synaptic_record), copy.deepcopy(synaptic_record)
    assert want.layers["lif1"].currents is not None and want.layers["lif1"].currents.any()
    assert compare_records(want, got, WHERE).layer_values == 3 * SAMPLES * STEPS * (144 + 4 + 3)


def test_changed_synaptic_current_is_named(synaptic_record: Record) -> None:
    want, got = copy.deepcopy(synaptic_record), copy.deepcopy(synaptic_record)
    currents = got.layers["lif2"].currents
    before = int(currents[1, 2, 3])
    currents[1, 2, 3] -= 1
    _fails(
        want,
        got,
        f"layer 'lif2' synaptic current differs at sample 1, step 2, neuron 3: {before - 1} vs simulator {before}",
    )


def test_an_executor_without_the_synaptic_currents_is_refused(synaptic_record: Record) -> None:
    want, got = copy.deepcopy(synaptic_record), copy.deepcopy(synaptic_record)
    got.layers["lif3"].currents = None
    _fails(want, got, "the executor recorded no synaptic currents for layer 'lif3'")


def test_digests_cover_the_synaptic_currents(synaptic_record: Record) -> None:
    want, got = copy.deepcopy(synaptic_record), copy.deepcopy(synaptic_record)
    trace = got.layers.pop("lif2")
    trace.currents[0, 4, 0] += 1  # spikes and membranes unchanged: only the current differs
    got.digests["lif2"] = digests_of(trace)
    with pytest.raises(VerificationError, match="layer 'lif2' state differs at sample 0, step 4"):
        compare_records(want, got, WHERE)
