"""DVS128 Gesture, original IBM release: ``<root>/DvsGesture/userNN_<lighting>.aedat`` (AEDAT 3.1),
``userNN_<lighting>_labels.csv`` and ``trials_to_train.txt`` / ``trials_to_test.txt``.

One sample per labelled segment: the events with ``startTime_usec <= t < endTime_usec``. Encoding as in the
paper: 3 ms bins from the segment start, 128x128 downsampled x4 to 32x32, two polarity channels.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qsnn_deploy.atomic import write_atomic
from qsnn_deploy.data.aedat import read_aedat31, write_aedat31
from qsnn_deploy.data.events import Events, bin_events, binned_shape
from qsnn_deploy.errors import DatasetError

FOLDER = "DvsGesture"
SENSOR_HW = (128, 128)
NUM_CLASSES = 11
DEFAULT_BIN_US = 3000
DEFAULT_DOWNSAMPLE = 4
DEFAULT_NUM_STEPS = 100  # 300 ms of each gesture for training; pass more steps for longer test windows
TRIAL_LISTS = {"train": "trials_to_train.txt", "test": "trials_to_test.txt"}
CACHE_VERSION = 1

_WHERE = (
    "DVS128 Gesture cannot be downloaded automatically (IBM's release sits behind a request form); "
    "download DvsGesture.tar.gz from https://research.ibm.com/interactive/dvsgesture/, extract it so that "
    "{folder} holds the user*.aedat, user*_labels.csv and trials_to_*.txt files, then pass --data-dir or set "
    "QSNN_DATA_DIR"
)


@dataclass(frozen=True)
class Segment:
    """One labelled gesture in a recording: ``label`` 0-10 (the CSV's class 1-11 minus one), times in µs."""

    label: int
    start_us: int
    end_us: int


def gesture_dir(root: Path) -> Path:
    """``<root>/DvsGesture``; ``DatasetError`` saying where the release goes if it is missing."""
    folder = Path(root) / FOLDER
    if not folder.is_dir():
        raise DatasetError(
            f"DVS128 Gesture not found: expected folder {folder}. " + _WHERE.format(folder=folder)
        )
    return folder


def read_trial_list(folder: Path, split: str) -> list[str]:
    """Recording names (``userNN_<lighting>``, without ``.aedat``) of one split, in file order."""
    path = folder / TRIAL_LISTS[split]
    if not path.is_file():
        raise DatasetError(f"DVS128 Gesture split list {path} not found. " + _WHERE.format(folder=folder))
    names = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"DVS128 Gesture split list {path} cannot be read as UTF-8 text: {e}") from e
    for number, line in enumerate(lines, 1):
        name = line.strip()
        if not name:
            continue
        # a recording's name becomes a file name in this folder: nothing that reaches another folder or
        # that the OS refuses (a NUL made open() raise ValueError)
        if any(c in name for c in "/\\\x00") or name.startswith(".") or len(name) > 200:
            raise DatasetError(
                f"{path}:{number}: {name[:60]!r} is not a recording name (userNN_<lighting>); the list is corrupt"
            )
        names.append(name[: -len(".aedat")] if name.endswith(".aedat") else name)
    return names


def read_labels_csv(path: Path) -> list[Segment]:
    """Segments of a ``*_labels.csv`` (header ``class,startTime_usec,endTime_usec``; classes 1-11)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as e:
        raise DatasetError(f"DVS128 Gesture label file {path} not found; the release is incomplete") from e
    except (OSError, UnicodeDecodeError) as e:  # a folder, unreadable, or not text
        raise DatasetError(f"DVS128 Gesture label file {path} cannot be read as UTF-8 text: {e}") from e
    if not lines or not lines[0].strip().lower().startswith("class"):
        raise DatasetError(f"{path}: expected the header 'class,startTime_usec,endTime_usec'")
    segments = []
    for number, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        try:
            cls, start, end = (int(v) for v in line.split(","))
        except ValueError as e:
            raise DatasetError(
                f"{path}:{number}: expected 'class,startTime_usec,endTime_usec', got {line!r}"
            ) from e
        if not 1 <= cls <= NUM_CLASSES or end <= start:
            raise DatasetError(
                f"{path}:{number}: class {cls} (expected 1-11) or times {start}..{end} are invalid"
            )
        segments.append(Segment(cls - 1, start, end))
    return segments


def segment_events(events: Events, segments: list[Segment]) -> list[Events]:
    """The events of each segment (``start <= t < end``); sorts by time first if the file is not sorted."""
    t = events.t
    if len(t) > 1 and np.any(np.diff(t) < 0):
        events = events.select(np.argsort(t, kind="stable"))
        t = events.t
    out = []
    for seg in segments:
        lo, hi = np.searchsorted(t, [seg.start_us, seg.end_us], side="left")
        out.append(events.select(slice(int(lo), int(hi))))
    return out


def _cache_path(root: Path, key: dict) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return Path(root) / "cache" / f"dvs-{key['split']}-{digest}.npz"


def _load_cache(path: Path, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray] | None:
    """The cached (inputs, labels) if the file holds exactly what ``load_dvs_gesture`` would compute the shape
    and types of (uint8 ``shape`` inputs, int64 labels 0-10), else None (and the recordings are read again): the
    cache sits in a data folder someone may hand you, so a damaged or foreign file is never trusted."""
    try:
        with np.load(path, allow_pickle=False) as z:
            inputs, labels = z["inputs"], z["labels"]
    except (OSError, KeyError, ValueError, EOFError, MemoryError, zipfile.BadZipFile):
        return None
    if inputs.dtype != np.uint8 or inputs.shape != shape or labels.dtype != np.int64:
        return None
    if labels.shape != shape[:1] or (labels.size and not 0 <= labels.min() <= labels.max() < NUM_CLASSES):
        return None
    return inputs, labels


def _save_cache(path: Path, inputs: np.ndarray, labels: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, inputs=inputs, labels=labels)
    try:
        write_atomic(path, lambda f: f.write(buffer.getbuffer()))
    except OSError:
        pass  # a read-only data dir just means no cache


def load_dvs_gesture(
    root: Path,
    split: str,
    limit: int | None = None,
    num_steps: int | None = None,
    bin_us: int = DEFAULT_BIN_US,
    downsample: int = DEFAULT_DOWNSAMPLE,
    cache: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Event counts ``uint8 (N, T, 2, 32, 32)`` and labels ``int64 (N,)``, one sample per labelled segment.

    Recordings are read in the split list's order and only until ``limit`` samples are collected. With
    ``cache`` the result is kept in ``<root>/cache/dvs-<split>-<hash>.npz`` (keyed by the parameters and
    the size/mtime of the files read; skipped silently where the data dir is read-only).
    """
    steps = DEFAULT_NUM_STEPS if num_steps is None else num_steps
    folder = gesture_dir(root)
    trials: list[tuple[str, list[Segment]]] = []
    total = 0
    for name in read_trial_list(folder, split):
        if limit is not None and total >= limit:
            break
        segments = read_labels_csv(folder / f"{name}_labels.csv")
        if limit is not None:
            segments = segments[: limit - total]
        trials.append((name, segments))
        total += len(segments)
    if total == 0 and limit != 0:  # a run on no samples has no accuracy and nothing to compare
        raise DatasetError(f"the DVS128 Gesture {split} split in {folder} lists no labelled segments")
    files = [folder / f"{name}{suffix}" for name, _ in trials for suffix in (".aedat", "_labels.csv")]
    for f in files:
        if not f.is_file():
            raise DatasetError(f"DVS128 Gesture recording {f} not found (listed in {TRIAL_LISTS[split]})")
    key = {
        "version": CACHE_VERSION,
        "split": split,
        "limit": limit,
        "num_steps": steps,
        "bin_us": bin_us,
        "downsample": downsample,
        "files": [[f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in files],
    }
    cache_file = _cache_path(root, key)
    shape = (total, *binned_shape(SENSOR_HW, downsample, steps))
    if cache and (hit := _load_cache(cache_file, shape)) is not None:
        return hit
    inputs = np.zeros(shape, dtype=np.uint8)
    labels = np.zeros(total, dtype=np.int64)
    i = 0
    for name, segments in trials:
        events = read_aedat31(folder / f"{name}.aedat")
        for seg, seg_events in zip(segments, segment_events(events, segments), strict=True):
            inputs[i] = bin_events(seg_events, SENSOR_HW, downsample, bin_us, steps, t_start=seg.start_us)
            labels[i] = seg.label
            i += 1
    if cache:
        _save_cache(cache_file, inputs, labels)
    return inputs, labels


@dataclass(frozen=True)
class DvsGestureFixture:
    """What ``write_dvs_gesture_fixture`` wrote: per recording, its valid events and labelled segments."""

    root: Path
    folder: Path
    train_trials: tuple[str, ...]
    test_trials: tuple[str, ...]
    events: dict[str, Events]
    segments: dict[str, list[Segment]]


def write_dvs_gesture_fixture(
    root: Path,
    *,
    train_users: tuple[int, ...] = (1,),
    test_users: tuple[int, ...] = (24,),
    lighting: str = "fluorescent",
    gestures_per_trial: int = 3,
    events_per_gesture: int = 400,
    gesture_us: int = 450_000,
    gap_us: int = 120_000,
    start_us: int = (1 << 31) - 600_000,
    invalid_every: int = 97,
    seed: int = 0,
) -> DvsGestureFixture:
    """Write a tiny DVS128 Gesture release in the original format under ``<root>/DvsGesture``.

    Each user gets one recording ``userNN_<lighting>`` with ``gestures_per_trial`` labelled gestures
    separated by unlabelled gaps that also hold events. Timestamps start at ``start_us`` (just below 2^31 by
    default, so the AEDAT overflow counter is used), every ``invalid_every``-th event has its valid bit
    cleared, one pixel gets a burst of 300 events in one bin (count saturation) and a non-polarity packet
    is interleaved. The returned ``events`` hold only the valid events.
    """
    rng = np.random.default_rng(seed)
    folder = Path(root) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    all_events: dict[str, Events] = {}
    all_segments: dict[str, list[Segment]] = {}
    names = {"train": [], "test": []}
    for split, users in (("train", train_users), ("test", test_users)):
        for user in users:
            name = f"user{user:02d}_{lighting}"
            names[split].append(name)
            segments, times = [], []
            t = start_us
            for g in range(gestures_per_trial):
                times.append(rng.integers(t, t + gap_us, size=events_per_gesture // 4))  # unlabelled gap
                t += gap_us
                label = int(rng.integers(0, NUM_CLASSES)) if g else (user + g) % NUM_CLASSES
                segments.append(Segment(label, t, t + gesture_us))
                times.append(rng.integers(t, t + gesture_us, size=events_per_gesture))
                if g == 0:
                    times.append(np.full(300, t + 1000))  # 300 events, one pixel, first bin
                t += gesture_us
            times.append(rng.integers(t, t + gap_us, size=events_per_gesture // 4))
            tt = np.sort(np.concatenate(times)).astype(np.int64)
            n = len(tt)
            x = rng.integers(0, SENSOR_HW[1], size=n)
            y = rng.integers(0, SENSOR_HW[0], size=n)
            p = rng.integers(0, 2, size=n)
            burst = np.isin(tt, [s.start_us + 1000 for s in segments[:1]])
            x[burst], y[burst], p[burst] = 127, 5, 1
            events = Events.from_arrays(x, y, p, tt)
            valid = (np.arange(n) % invalid_every) != invalid_every - 1
            valid[burst] = True
            write_aedat31(folder / f"{name}.aedat", events, valid=valid, packet_events=128)
            csv = "class,startTime_usec,endTime_usec\n" + "".join(
                f"{s.label + 1},{s.start_us},{s.end_us}\n" for s in segments
            )
            (folder / f"{name}_labels.csv").write_text(csv)
            all_events[name] = events.select(valid)
            all_segments[name] = segments
    for split, file_name in TRIAL_LISTS.items():
        (folder / file_name).write_text("".join(f"{n}.aedat\n" for n in names[split]))
    return DvsGestureFixture(
        root=Path(root),
        folder=folder,
        train_trials=tuple(names["train"]),
        test_trials=tuple(names["test"]),
        events=all_events,
        segments=all_segments,
    )
