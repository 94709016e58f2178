"""Dataset readers and encoders: MNIST / Fashion-MNIST (IDX), N-MNIST (native 40-bit) and DVS128 Gesture
(AEDAT 3.1), all returned as uint8 arrays through ``load_dataset``. See docs/datasets.md."""

from qsnn_deploy.data.aedat import read_aedat31, write_aedat31
from qsnn_deploy.data.dvs_gesture import (
    DvsGestureFixture,
    Segment,
    load_dvs_gesture,
    read_labels_csv,
    write_dvs_gesture_fixture,
)
from qsnn_deploy.data.events import Events, bin_events, binned_shape, concatenate
from qsnn_deploy.data.idx import IDX_SOURCES, ensure_idx_files, load_idx, read_idx
from qsnn_deploy.data.nmnist import load_nmnist, read_bs2, read_label_list
from qsnn_deploy.data.paths import DATA_DIR_ENV, resolve_data_dir
from qsnn_deploy.data.registry import DATASET_NAMES, Dataset, load_dataset

__all__ = [
    "DATASET_NAMES",
    "DATA_DIR_ENV",
    "IDX_SOURCES",
    "Dataset",
    "DvsGestureFixture",
    "Events",
    "Segment",
    "bin_events",
    "binned_shape",
    "concatenate",
    "ensure_idx_files",
    "load_dataset",
    "load_dvs_gesture",
    "load_idx",
    "load_nmnist",
    "read_aedat31",
    "read_bs2",
    "read_idx",
    "read_label_list",
    "read_labels_csv",
    "resolve_data_dir",
    "write_aedat31",
    "write_dvs_gesture_fixture",
]
