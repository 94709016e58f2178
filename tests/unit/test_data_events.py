"""Event binning and the N-MNIST native reader (real files from nmnist-small/)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from qsnn_deploy.data import Events, bin_events, load_dataset, read_bs2, read_label_list
from qsnn_deploy.errors import DatasetError


def _reference_bins(ev: Events, hw, ds, bin_us, steps, t0) -> np.ndarray:
    """Independent reference: one np.add.at per event list, then saturate."""
    out = np.zeros((steps, 2, -(-hw[0] // ds), -(-hw[1] // ds)), dtype=np.int64)
    k = (ev.t - t0) // bin_us
    m = (ev.t >= t0) & (k < steps)
    np.add.at(out, (k[m], ev.p[m].astype(int), ev.y[m] // ds, ev.x[m] // ds), 1)
    return np.minimum(out, 255).astype(np.uint8)


def test_bin_events_channels_bins_and_downsampling():
    ev = Events.from_arrays(
        x=[0, 3, 4, 7, 7, 1],
        y=[0, 1, 5, 7, 7, 0],
        p=[0, 1, 1, 0, 1, 1],
        t=[100, 2999 + 100, 3000 + 100, 5999 + 100, 6000 + 100, 50],
    )
    out = bin_events(ev, (8, 8), downsample=4, bin_us=3000, num_steps=2, t_start=100)
    assert out.shape == (2, 2, 2, 2) and out.dtype == np.uint8
    expected = np.zeros((2, 2, 2, 2), dtype=np.uint8)
    expected[0, 0, 0, 0] = 1  # OFF at (0,0), t=100
    expected[0, 1, 0, 0] = 1  # ON at (x=3, y=1) -> (0,0), last µs of bin 0
    expected[1, 1, 1, 1] = 1  # ON at (x=4, y=5) -> (row 1, col 1), first µs of bin 1
    expected[1, 0, 1, 1] = 1  # OFF at (7,7), last µs of bin 1; t=6100 (bin 2) and t=50 (before) dropped
    np.testing.assert_array_equal(out, expected)


def test_bin_events_saturates_and_defaults_to_first_event_time():
    ev = Events.from_arrays(x=[2] * 300 + [1], y=[1] * 300 + [0], p=[1] * 300 + [0], t=[7000] * 300 + [10000])
    out = bin_events(ev, (3, 3), bin_us=3000, num_steps=4)
    assert out[0, 1, 1, 2] == 255 and out[1, 0, 0, 1] == 1 and int(out.sum(dtype=np.int64)) == 256


def test_bin_events_odd_sizes_and_empty():
    assert bin_events(Events.empty(), (34, 34), downsample=4, num_steps=3).shape == (3, 2, 9, 9)
    with pytest.raises(DatasetError, match="do not fit a 8x8 sensor"):
        bin_events(Events.from_arrays([8], [0], [0], [0]), (8, 8))


def test_read_bs2_decodes_the_40_bit_format(data_dir):
    path = data_dir / "nmnist-small" / "1.bs2"
    ev = read_bs2(path)
    raw = path.read_bytes()
    assert len(ev) == len(raw) // 5 == 4681
    for i in (0, 1, 2, 4680):  # decode a few records by hand, bit by bit
        b = raw[5 * i : 5 * i + 5]
        assert (ev.x[i], ev.y[i]) == (b[0], b[1])
        assert ev.p[i] == b[2] >> 7
        assert ev.t[i] == int.from_bytes(b[2:5], "big") & 0x7FFFFF
    assert (ev.x[0], ev.y[0], ev.p[0], ev.t[0]) == (18, 16, 1, 893)
    assert ev.x.max() <= 33 and ev.y.max() <= 33 and set(np.unique(ev.p).tolist()) == {0, 1}
    assert np.all(np.diff(ev.t) >= 0) and 250_000 < ev.t[-1] < 350_000


def test_label_lists(data_dir):
    train = read_label_list(data_dir / "nmnist-small" / "train1K.txt")
    test = read_label_list(data_dir / "nmnist-small" / "test100.txt")
    assert len(train) == 1000 and train[:5] == [(1, 5), (2, 0), (3, 4), (4, 1), (5, 9)]
    assert len(test) == 100 and test[0] == (60001, 7)


def test_nmnist_dataset_matches_reference_binning(data_dir):
    ds = load_dataset("nmnist", "test", data_dir, limit=12)
    assert ds.inputs.shape == (12, 100, 2, 34, 34) and ds.inputs.dtype == np.uint8
    assert ds.labels.tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9, 0, 6]  # = MNIST test labels
    assert (ds.kind, ds.input_scale, ds.num_classes) == ("stream", 1.0, 10)
    for i in range(12):
        ev = read_bs2(data_dir / "nmnist-small" / f"{60001 + i}.bs2")
        in_window = int(np.count_nonzero(ev.t < 300_000))
        assert int(ds.inputs[i].sum(dtype=np.int64)) == in_window  # no saturation in N-MNIST
        np.testing.assert_array_equal(ds.inputs[i], _reference_bins(ev, (34, 34), 1, 3000, 100, 0))
    short = load_dataset("nmnist", "test", data_dir, limit=2, num_steps=10)
    np.testing.assert_array_equal(short.inputs, ds.inputs[:2, :10])


def test_nmnist_train_split_full(data_dir):
    ds = load_dataset("nmnist", "train", data_dir)
    assert len(ds) == 1000 and ds.labels[:5].tolist() == [5, 0, 4, 1, 9]
    assert np.bincount(ds.labels, minlength=10).min() > 50


def test_truncated_bs2_names_the_file(data_dir, tmp_path):
    bad = tmp_path / "7.bs2"
    bad.write_bytes((data_dir / "nmnist-small" / "7.bs2").read_bytes()[:-2])
    with pytest.raises(DatasetError, match="7.bs2 is truncated"):
        read_bs2(bad)


def test_limit_opens_only_the_files_it_needs(data_dir, tmp_path):
    folder = tmp_path / "nmnist"  # the alternative folder name
    folder.mkdir()
    shutil.copyfile(data_dir / "nmnist-small" / "test100.txt", folder / "test100.txt")
    for i in (60001, 60002, 60003):
        shutil.copyfile(data_dir / "nmnist-small" / f"{i}.bs2", folder / f"{i}.bs2")
    assert len(load_dataset("nmnist", "test", tmp_path, limit=3, num_steps=5)) == 3
    with pytest.raises(DatasetError, match="60004.bs2 not found"):
        load_dataset("nmnist", "test", tmp_path, limit=4, num_steps=5)


def test_missing_nmnist_says_where_to_put_it(tmp_path):
    with pytest.raises(DatasetError, match=r"N-MNIST not found in .*nmnist-small"):
        load_dataset("nmnist", "test", tmp_path, download=False)
