"""DVS128 Gesture reader on fixtures written in the original release format (AEDAT 3.1 + CSV + trial lists)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from qsnn_deploy.data import Events, load_dataset, read_aedat31, write_aedat31, write_dvs_gesture_fixture
from qsnn_deploy.errors import DatasetError


@pytest.fixture
def fixture(tmp_path):
    return write_dvs_gesture_fixture(tmp_path, train_users=(1, 2), test_users=(24,))


def _packet_headers(path: Path) -> list[tuple[int, int, int]]:
    """(type, overflow, number) of every packet, walked independently of the reader."""
    data = path.read_bytes()
    pos = data.index(b"#!END-HEADER\r\n") + len(b"#!END-HEADER\r\n")
    out = []
    while pos < len(data):
        etype, _, size, _, overflow, _, number, _ = struct.unpack_from("<hhiiiiii", data, pos)
        out.append((etype, overflow, number))
        pos += 28 + size * number
    assert pos == len(data)
    return out


def _reference(ev: Events, start: int, end: int, steps: int) -> np.ndarray:
    """Paper encoding by hand: events of [start, end), 3 ms bins from start, x//4, y//4, channel = polarity."""
    m = (ev.t >= start) & (ev.t < end) & (ev.t < start + 3000 * steps)
    out = np.zeros((steps, 2, 32, 32), dtype=np.int64)
    np.add.at(out, ((ev.t[m] - start) // 3000, ev.p[m].astype(int), ev.y[m] // 4, ev.x[m] // 4), 1)
    return np.minimum(out, 255).astype(np.uint8)


def test_fixture_uses_the_tricky_parts_of_the_format(fixture):
    path = fixture.folder / "user01_fluorescent.aedat"
    assert path.read_bytes().startswith(b"#!AER-DAT3.1\r\n")
    headers = _packet_headers(path)
    assert {etype for etype, _, _ in headers} == {0, 1}  # a non-polarity packet is interleaved
    assert {overflow for _, overflow, _ in headers} == {0, 1}  # timestamps cross 2^31
    written = sum(n for etype, _, n in headers if etype == 1)
    assert written > len(fixture.events["user01_fluorescent"])  # some events carry a clear valid bit
    csv = (fixture.folder / "user01_fluorescent_labels.csv").read_text().splitlines()
    assert csv[0] == "class,startTime_usec,endTime_usec" and len(csv) == 4
    assert (fixture.folder / "trials_to_test.txt").read_text() == "user24_fluorescent.aedat\n"


def test_read_aedat31_returns_valid_polarity_events_with_full_timestamps(fixture):
    for name, expected in fixture.events.items():
        got = read_aedat31(fixture.folder / f"{name}.aedat")
        for field in "xypt":
            np.testing.assert_array_equal(getattr(got, field), getattr(expected, field))
        assert got.t.dtype == np.int64 and got.t.max() > 2**31


def test_load_dvs_splits_by_user_with_labels_from_csv(fixture):
    train = load_dataset("dvs", "train", fixture.root)
    test = load_dataset("dvs", "test", fixture.root)
    assert (len(train), len(test)) == (6, 3)
    assert train.inputs.shape == (6, 100, 2, 32, 32) and train.inputs.dtype == np.uint8
    assert (train.kind, train.input_scale, train.num_classes) == ("stream", 1.0, 11)
    want_train = [s.label for n in fixture.train_trials for s in fixture.segments[n]]
    want_test = [s.label for n in fixture.test_trials for s in fixture.segments[n]]
    assert train.labels.tolist() == want_train and test.labels.tolist() == want_test
    csv_classes = [
        int(line.split(",")[0])
        for line in (fixture.folder / "user24_fluorescent_labels.csv").read_text().splitlines()[1:]
    ]
    assert test.labels.tolist() == [c - 1 for c in csv_classes]


def test_binning_matches_a_direct_numpy_computation(fixture):
    steps = 200  # longer than the default, as for testing on longer recordings
    train = load_dataset("dvs", "train", fixture.root, num_steps=steps)
    i = 0
    for name in fixture.train_trials:
        for seg in fixture.segments[name]:
            np.testing.assert_array_equal(
                train.inputs[i], _reference(fixture.events[name], seg.start_us, seg.end_us, steps)
            )
            i += 1
    # the burst of 300 events at x=127, y=5, ON, in the first bin of the first gesture saturates at 255
    assert train.inputs[0, 0, 1, 1, 31] == 255


def test_limit_reads_only_the_recordings_it_needs(fixture):
    (fixture.folder / "user02_fluorescent.aedat").unlink()
    head = load_dataset("dvs", "train", fixture.root, limit=2)
    assert len(head) == 2
    assert len(load_dataset("dvs", "train", fixture.root, limit=3)) == 3
    with pytest.raises(DatasetError, match="user02_fluorescent.aedat not found"):
        load_dataset("dvs", "train", fixture.root, limit=4)


def test_results_are_cached_as_npz_keyed_by_parameters(fixture):
    first = load_dataset("dvs", "test", fixture.root)
    caches = sorted((fixture.root / "cache").glob("dvs-test-*.npz"))
    assert len(caches) == 1
    with np.load(caches[0], allow_pickle=False) as z:
        np.testing.assert_array_equal(z["inputs"], first.inputs)
    again = load_dataset("dvs", "test", fixture.root)
    np.testing.assert_array_equal(again.inputs, first.inputs)
    load_dataset("dvs", "test", fixture.root, num_steps=20)
    assert len(list((fixture.root / "cache").glob("dvs-test-*.npz"))) == 2


@pytest.mark.parametrize(
    "keep",
    [
        lambda data: data[:60],  # inside the ASCII header: no #!END-HEADER
        lambda data: data[: data.index(b"#!END-HEADER\r\n") + 14 + 10],  # inside a packet header
        lambda data: data[:200],  # inside the first packet's events
        lambda data: data[:-3],  # inside the last packet's events
    ],
    ids=["header", "packet-header", "first-packet", "last-packet"],
)
def test_truncated_aedat_names_the_file(fixture, keep):
    path = fixture.folder / "user24_fluorescent.aedat"
    path.write_bytes(keep(path.read_bytes()))
    with pytest.raises(DatasetError, match="user24_fluorescent.aedat.*(truncated|incomplete)"):
        read_aedat31(path)
    with pytest.raises(DatasetError, match="user24_fluorescent.aedat"):
        load_dataset("dvs", "test", fixture.root)


def test_other_aedat_versions_are_rejected(tmp_path):
    path = tmp_path / "old.aedat"
    path.write_bytes(b"#!AER-DAT2.0\r\n# old jAER\r\n" + bytes(16))
    with pytest.raises(DatasetError, match="old.aedat: not an AEDAT 3.x file"):
        read_aedat31(path)


def test_write_aedat31_round_trips_a_large_overflow(tmp_path):
    t = np.array([0, 5, (3 << 31) + 7, (3 << 31) + 9], dtype=np.int64)
    ev = Events.from_arrays(x=[0, 127, 64, 1], y=[127, 0, 3, 2], p=[1, 0, 1, 0], t=t)
    write_aedat31(tmp_path / "r.aedat", ev, packet_events=3, special_packet_after=())
    got = read_aedat31(tmp_path / "r.aedat")
    for field in "xypt":
        np.testing.assert_array_equal(getattr(got, field), getattr(ev, field))


def test_missing_dvs_gesture_folder_says_where_to_put_it(tmp_path):
    with pytest.raises(DatasetError) as info:
        load_dataset("dvs", "train", tmp_path)
    message = str(info.value)
    assert str(tmp_path / "DvsGesture") in message and "cannot be downloaded" in message
    assert "trials_to_" in message and "\n" not in message


def test_missing_label_csv_names_it(fixture):
    (fixture.folder / "user24_fluorescent_labels.csv").unlink()
    with pytest.raises(DatasetError, match="user24_fluorescent_labels.csv"):
        load_dataset("dvs", "test", fixture.root)
