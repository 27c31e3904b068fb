"""MM-Fit (Strömbäck et al., IMWUT 2020) loader, following the official starter code
(repository KDMStromback/mm-fit, ``utils/dataset.py`` and ``train_multimodal_ar.py``).

Layout, per workout ``wNN/``:

* ``wNN_labels.csv`` — no header, ``start_frame,end_frame,repetitions,exercise``; frames are
  RGB-D video frames (30 fps). Frames outside every set are ``non_activity`` (the 11th class).
* ``wNN_<device>_<acc|gyr|mag>.npy`` — (N, 5) ``[frame, unix_time_ms, x, y, z]``, devices
  ``sw_l``/``sw_r`` (smartwatches), ``sp_r``/``sp_l`` (phones), ``eb_l`` (earbud). Values are
  kept in the units MM-Fit recorded them in.
* ``wNN_pose_2d.npy`` — (2, F, 1 + 17): x/y planes, first column of the last axis = frame
  number; ``wNN_pose_3d.npy`` (3, F, 1 + 16).

Windows as in the starter code: 5 s long, starting at every 6th pose frame (0.2 s stride); the
pose window is the 150 frames from the start frame; the sensor window starts at the first sensor
sample whose frame number is >= the start frame and spans 5 s of its unix time, resampled here
to 50 Hz (250 samples) by linear interpolation. A window is labelled with the set whose
``(start_frame, end_frame)`` strictly contains its centre frame (start + 75), else
``non_activity`` — the starter code's rule.

Official split (``train_multimodal_ar.py``): train w01-w04, w06-w08, w16-w18; validation
w14, w15, w19; test w09-w11; "unseen" test w00, w05, w12, w13, w20.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np

from .errors import DatasetError
from .utd_mhad import interpolate_rows
from .windows import WindowSet

MMFIT_CLASSES: Final = (
    "squats",
    "lunges",
    "bicep_curls",
    "situps",
    "pushups",
    "tricep_extensions",
    "dumbbell_rows",
    "jumping_jacks",
    "dumbbell_shoulder_press",
    "lateral_shoulder_raises",
    "non_activity",
)
NON_ACTIVITY: Final = MMFIT_CLASSES.index("non_activity")
MMFIT_SPLIT: Final[dict[str, tuple[int, ...]]] = {
    "train": (1, 2, 3, 4, 6, 7, 8, 16, 17, 18),
    "val": (14, 15, 19),
    "test": (9, 10, 11),
    "unseen": (0, 5, 12, 13, 20),
}
WORKOUTS: Final = tuple(range(21))
POSE_FPS: Final = 30.0
SENSOR_RATE_HZ: Final = 50.0
WINDOW_S: Final = 5.0
STRIDE_S: Final = 0.2
SENSOR_DEVICES: Final = ("sw_l", "sw_r", "sp_r", "sp_l", "eb_l")
_WORKOUT_RE: Final = re.compile(r"^w(\d\d)$")


@dataclass(frozen=True)
class ExerciseSet:
    start_frame: int
    end_frame: int
    repetitions: int
    exercise: str

    @property
    def label(self) -> int:
        return MMFIT_CLASSES.index(self.exercise)


@dataclass(frozen=True)
class MmfitWorkout:
    workout: int
    sets: tuple[ExerciseSet, ...]
    pose_2d: np.ndarray | None  # (2, F, 18)
    sensors: dict[str, np.ndarray] = field(default_factory=dict)  # e.g. 'sw_l_acc' -> (N, 5)


def split_of(workout: int) -> str:
    for name, workouts in MMFIT_SPLIT.items():
        if workout in workouts:
            return name
    raise ValueError(f"workout {workout} is in no MM-Fit split")


def read_labels_csv(path: Path) -> list[ExerciseSet]:
    if not path.is_file():
        raise DatasetError(path, "file is missing")
    sets: list[ExerciseSet] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        cells = [c.strip() for c in line.split(",")]
        if len(cells) != 4:
            raise DatasetError(path, f"line {number}: {len(cells)} columns, expected start_frame,end_frame,repetitions,exercise")
        try:
            start, end, reps = int(cells[0]), int(cells[1]), int(cells[2])
        except ValueError:
            raise DatasetError(path, f"line {number}: frames/repetitions {cells[:3]} are not integers") from None
        if cells[3] not in MMFIT_CLASSES or cells[3] == "non_activity":
            raise DatasetError(path, f"line {number}: unknown exercise {cells[3]!r}")
        if end <= start:
            raise DatasetError(path, f"line {number}: end_frame {end} is not after start_frame {start}")
        if sets and start < sets[-1].end_frame:
            raise DatasetError(path, f"line {number}: set starting at frame {start} overlaps the previous set")
        sets.append(ExerciseSet(start, end, reps, cells[3]))
    return sets


def _workout_dirs(root: Path) -> dict[int, Path]:
    if not root.is_dir():
        raise DatasetError(root, "MM-Fit folder is missing")
    found = {int(m.group(1)): p for p in root.iterdir() if p.is_dir() and (m := _WORKOUT_RE.match(p.name))}
    if not found:
        raise DatasetError(root, "contains no wNN/ workout folders")
    return dict(sorted(found.items()))


def load_mmfit_labels(root: Path) -> dict[int, list[ExerciseSet]]:
    """Exercise sets of every workout folder under ``root`` (e.g. ``$MUJO_DATASETS/mmfit-labels``)."""
    return {w: read_labels_csv(d / f"w{w:02d}_labels.csv") for w, d in _workout_dirs(root).items()}


def _load_npy(path: Path, ndim: int, last: int | None, what: str) -> np.ndarray:
    if not path.is_file():
        raise DatasetError(path, "file is missing")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DatasetError(path, f"not a readable .npy array ({exc})") from exc
    if array.ndim != ndim or (last is not None and array.shape[-1] != last):
        raise DatasetError(path, f"{what} has shape {array.shape}")
    if not np.issubdtype(array.dtype, np.number) or not np.all(np.isfinite(array)):
        raise DatasetError(path, f"{what} must be finite numbers")
    return array.astype(np.float64, copy=False)


def load_sensor(path: Path) -> np.ndarray:
    """(N, 5) ``[frame, unix_time_ms, x, y, z]``, rows in time order."""
    data = _load_npy(path, 2, 5, "sensor array (expected (N, 5) [frame, unix_ms, x, y, z])")
    if data.shape[0] < 2 or np.any(np.diff(data[:, 1]) < 0):
        raise DatasetError(path, "sensor timestamps must be ascending with at least two rows")
    return data


def load_pose_2d(path: Path) -> np.ndarray:
    """(2, F, 18): x and y planes, column 0 = frame number, then 17 keypoints."""
    data = _load_npy(path, 3, 18, "pose_2d (expected (2, F, 18))")
    if data.shape[0] != 2:
        raise DatasetError(path, f"pose_2d has shape {data.shape}, expected (2, F, 18)")
    return data


def load_mmfit_workout(root: Path, workout: int, sensors: Sequence[str] = ("sw_l_acc", "sw_l_gyr"), pose: bool = True) -> MmfitWorkout:
    """One workout from a full MM-Fit release folder ``root`` (holding ``wNN/``)."""
    folder = root / f"w{workout:02d}"
    stem = f"w{workout:02d}"
    return MmfitWorkout(
        workout=workout,
        sets=tuple(read_labels_csv(folder / f"{stem}_labels.csv")),
        pose_2d=load_pose_2d(folder / f"{stem}_pose_2d.npy") if pose else None,
        sensors={name: load_sensor(folder / f"{stem}_{name}.npy") for name in sensors},
    )


def frame_labels(sets: Iterable[ExerciseSet], centre_frames: np.ndarray) -> np.ndarray:
    """Class index per centre frame: the set with ``start < centre < end``, else non_activity."""
    y = np.full(centre_frames.shape[0], NON_ACTIVITY, dtype=np.int64)
    for s in sets:
        y[(centre_frames > s.start_frame) & (centre_frames < s.end_frame)] = s.label
    return y


@dataclass(frozen=True)
class MmfitWindows:
    imu: WindowSet  # x (W, 250, 3 * len(sensors)) in sensor order
    pose: np.ndarray  # (W, 150, 17, 2) float32, MM-Fit pixel coordinates
    repetitions: np.ndarray  # (W,) reps of the set the window is labelled with (0 for non_activity)
    dropped: int  # windows skipped because a sensor did not cover them


def mmfit_windows(
    workout: MmfitWorkout,
    sensors: Sequence[str] = ("sw_l_acc", "sw_l_gyr"),
    window_s: float = WINDOW_S,
    stride_s: float = STRIDE_S,
    sensor_rate_hz: float = SENSOR_RATE_HZ,
    pose_fps: float = POSE_FPS,
    max_gap_s: float = 0.5,
) -> MmfitWindows:
    if workout.pose_2d is None:
        raise ValueError(f"workout w{workout.workout:02d} was loaded without pose_2d")
    pose_len = int(window_s * pose_fps)
    stride = int(round(stride_s * pose_fps))
    sensor_len = int(round(window_s * sensor_rate_hz))
    frames = workout.pose_2d[0, :, 0]
    keypoints = np.transpose(workout.pose_2d[:, :, 1:], (1, 2, 0)).astype(np.float32)  # (F, 17, 2)
    starts = np.arange(0, max(frames.shape[0] - pose_len + 1, 0), stride)
    imu_windows: list[np.ndarray] = []
    pose_windows: list[np.ndarray] = []
    kept_starts: list[int] = []
    end_s: list[float] = []
    dropped = 0
    for i in starts.tolist():
        start_frame = frames[i]
        parts = []
        t0: float | None = None
        for name in sensors:
            data = workout.sensors[name]
            first = int(np.searchsorted(data[:, 0], start_frame, side="left"))
            if first >= data.shape[0]:
                parts = []
                break
            if t0 is None:
                t0 = float(data[first, 1])  # every sensor is resampled onto the first sensor's grid
            grid_ms = t0 + np.arange(sensor_len) * (1000.0 / sensor_rate_hz)
            span = (data[:, 1] >= grid_ms[0] - max_gap_s * 1000) & (data[:, 1] <= grid_ms[-1] + max_gap_s * 1000)
            times = data[span, 1]
            if times.size < 2 or times[0] > grid_ms[0] + max_gap_s * 1000 or times[-1] < grid_ms[-1] or np.max(np.diff(times)) > max_gap_s * 1000:
                parts = []
                break
            parts.append(interpolate_rows(data[span, 2:], times, grid_ms))
        if not parts:
            dropped += 1
            continue
        imu_windows.append(np.concatenate(parts, axis=1).astype(np.float32))
        pose_windows.append(keypoints[i : i + pose_len])
        kept_starts.append(i)
        end_s.append((start_frame + pose_len) / pose_fps)
    kept = np.array(kept_starts, dtype=np.int64)
    centre = frames[kept] + pose_len / 2 if kept.size else np.empty(0)
    y = frame_labels(workout.sets, centre)
    reps = np.zeros(kept.shape[0], dtype=np.int64)
    for s in workout.sets:
        reps[(centre > s.start_frame) & (centre < s.end_frame)] = s.repetitions
    n = kept.shape[0]
    channels = 3 * len(sensors)
    return MmfitWindows(
        imu=WindowSet(
            x=np.stack(imu_windows) if n else np.empty((0, sensor_len, channels), dtype=np.float32),
            y=y,
            classes=MMFIT_CLASSES,
            group=np.full(n, workout.workout, dtype=np.int64),
            sequence=np.full(n, workout.workout, dtype=np.int64),
            end_s=np.array(end_s, dtype=np.float64),
        ),
        pose=np.stack(pose_windows) if n else np.empty((0, pose_len, 17, 2), dtype=np.float32),
        repetitions=reps,
        dropped=dropped,
    )
