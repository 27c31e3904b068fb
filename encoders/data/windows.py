"""Resampling and windowing shared by training data and the "stream" evaluation.

Conventions (the same as the gateway's, see docs/recording-format.md):

* A stream is resampled by linear interpolation onto the grid ``t = k / rate`` of the
  recording's time base (IMU 50 Hz, pose 20 Hz by default).
* A window is identified by its exclusive end time ``E``, a multiple of the hop (0.5 s): it holds
  the grid samples in ``[E - length, E)``. Because every stream uses the same hop grid, the IMU
  and the pose windows of one subject that end at the same ``E`` cover the same time span and
  pair up by end time, whatever their sample rates.
* A window is labelled with the activity whose half-open interval contains its centre
  ``E - length / 2``; windows whose centre is unlabelled keep the label ``None`` (not scored).
* A window is only cut where its stream has real samples nearby: every grid point needs a source
  sample within ``max_gap_s``, so a silent device or a person out of view yields no window rather
  than an interpolated fake one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Final

import numpy as np

from .recording import LabelInterval, Recording, activity_at
from .utd_mhad import interpolate_rows

NS_PER_S: Final = 1_000_000_000


def _is_whole(x: float) -> bool:
    return abs(x - round(x)) < 1e-6


def _to_ns(seconds: float) -> int:
    return round(Fraction(seconds).limit_denominator(1_000_000) * NS_PER_S)


@dataclass(frozen=True)
class WindowSpec:
    length_s: float
    hop_s: float = 0.5
    rate_hz: float = 50.0
    max_gap_s: float = 0.25

    def __post_init__(self) -> None:
        for name, value in (("length_s", self.length_s), ("hop_s", self.hop_s)):
            if value <= 0 or not _is_whole(value * self.rate_hz):
                raise ValueError(f"{name}={value} must be a positive whole number of samples at {self.rate_hz} Hz")

    @property
    def length(self) -> int:
        return round(self.length_s * self.rate_hz)

    @property
    def hop(self) -> int:
        return round(self.hop_s * self.rate_hz)

    @property
    def length_ns(self) -> int:
        return _to_ns(self.length_s)

    @property
    def hop_ns(self) -> int:
        return _to_ns(self.hop_s)

    @property
    def period_ns(self) -> Fraction:
        return Fraction(NS_PER_S) / Fraction(self.rate_hz).limit_denominator(1_000_000)


IMU_WINDOW: Final = WindowSpec(length_s=2.0, hop_s=0.5, rate_hz=50.0)
POSE_WINDOW: Final = WindowSpec(length_s=2.0, hop_s=0.5, rate_hz=20.0)


def sliding_windows(values: np.ndarray, length: int, hop: int) -> np.ndarray:
    """Windows ``values[i*hop : i*hop+length]`` for every complete window: (W, length, ...)."""
    if values.shape[0] < length:
        return np.empty((0, length) + values.shape[1:], dtype=values.dtype)
    count = (values.shape[0] - length) // hop + 1
    idx = np.arange(count)[:, None] * hop + np.arange(length)[None, :]
    return values[idx]


def resample_to_rate(t_s: np.ndarray, values: np.ndarray, rate_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Resample an irregular stream (times in seconds from its first sample's origin) onto
    ``t = t_s[0] + k / rate_hz`` up to the last sample; returns (grid times, values float32)."""
    if t_s.shape[0] < 2:
        raise ValueError("need at least two samples to resample")
    count = int(np.floor((t_s[-1] - t_s[0]) * rate_hz + 1e-9)) + 1
    grid = t_s[0] + np.arange(count, dtype=np.float64) / rate_hz
    return grid, interpolate_rows(values, t_s, grid).astype(np.float32)


def centre_labels(sample_labels: np.ndarray, length: int, hop: int) -> np.ndarray:
    """Per-window label of the sample at the window centre (index ``start + length // 2``),
    for windows cut by :func:`sliding_windows` from per-sample labels."""
    if sample_labels.shape[0] < length:
        return sample_labels[:0]
    count = (sample_labels.shape[0] - length) // hop + 1
    return sample_labels[np.arange(count) * hop + length // 2]


@dataclass(frozen=True)
class StreamWindows:
    """Windows of one stream of one subject, each identified by its end time."""

    stream: str  # device id, or camera id
    modality: str  # 'imu' or 'pose'
    end_ns: np.ndarray  # (W,) int64, multiples of the hop
    data: np.ndarray  # (W, L, 6) or (W, L, 17, 3) float32


@dataclass(frozen=True)
class SubjectWindows:
    """All windows of one subject on the common hop grid.

    ``end_ns`` is the union of the end times of every stream's windows; ``present[stream]`` says
    which of them that stream has, and ``data[stream]`` holds its windows in ``end_ns`` order
    (zeros where absent)."""

    subject: str
    end_ns: np.ndarray  # (W,) int64
    labels: list[str | None]  # activity at the centre of the IMU-length window ending there
    pose_labels: list[str | None]  # same for the pose window length (equal if the lengths are)
    present: dict[str, np.ndarray] = field(default_factory=dict)  # stream -> (W,) bool
    data: dict[str, np.ndarray] = field(default_factory=dict)  # stream -> (W, L, ...) float32
    modality: dict[str, str] = field(default_factory=dict)  # stream -> 'imu' | 'pose'


def windows_on_grid(t_ns: np.ndarray, values: np.ndarray, spec: WindowSpec) -> tuple[np.ndarray, np.ndarray]:
    """Resample one stream onto the absolute grid ``k / rate`` and cut the windows whose end times
    lie on the hop grid. Returns (end_ns (W,) int64, windows (W, L, ...) float32)."""
    empty = (np.empty(0, dtype=np.int64), np.empty((0, spec.length) + values.shape[1:], dtype=np.float32))
    if t_ns.shape[0] < 2:
        return empty
    period = spec.period_ns
    first_k = math.ceil(Fraction(int(t_ns[0])) / period)  # exact: no float rounding at the grid
    last_k = math.floor(Fraction(int(t_ns[-1])) / period)
    if last_k < first_k:
        return empty
    ks = np.arange(first_k, last_k + 1, dtype=np.int64)
    grid_ns = _grid_ns(ks, period)
    t_rel = (t_ns - t_ns[0]).astype(np.float64) / NS_PER_S
    grid_rel = (grid_ns - t_ns[0]).astype(np.float64) / NS_PER_S
    resampled = interpolate_rows(values, t_rel, grid_rel).astype(np.float32)
    covered = _nearest_distance(t_rel, grid_rel) <= spec.max_gap_s
    # Window ending at grid index e (exclusive) covers grid indices [e - L, e); e*period must be a
    # hop multiple, i.e. (first_k + e) % hop == 0 in grid steps.
    L, hop = spec.length, spec.hop
    ends = np.arange(L, len(ks) + 1)
    ends = ends[(ks[0] + ends) % hop == 0]
    if ends.size == 0:
        return empty
    bad = np.concatenate([[0], np.cumsum(~covered)])
    ends = ends[bad[ends] - bad[ends - L] == 0]
    if ends.size == 0:
        return empty
    idx = ends[:, None] - L + np.arange(L)[None, :]
    end_ns = _grid_ns(ks[0] + ends, period)
    return end_ns, resampled[idx]


def _grid_ns(k: np.ndarray, period: Fraction) -> np.ndarray:
    """Exact ``round(k * period)`` in integer arithmetic (period = p / q ns)."""
    p, q = period.numerator, period.denominator
    return (k.astype(np.int64) * p + q // 2) // q


def _nearest_distance(times: np.ndarray, targets: np.ndarray) -> np.ndarray:
    right = np.clip(np.searchsorted(times, targets), 0, len(times) - 1)
    left = np.clip(right - 1, 0, len(times) - 1)
    return np.minimum(np.abs(times[right] - targets), np.abs(times[left] - targets))


def stream_windows(
    recording: Recording,
    imu: WindowSpec = IMU_WINDOW,
    pose: WindowSpec = POSE_WINDOW,
) -> list[SubjectWindows]:
    """Windows of every IMU device and every camera track of a recording, grouped by subject and
    paired by end time. Both specs must use the same hop."""
    if imu.hop_ns != pose.hop_ns:
        raise ValueError(f"IMU hop {imu.hop_s} s and pose hop {pose.hop_s} s must be equal to pair windows")
    per_subject: dict[str, list[StreamWindows]] = {}
    for device in recording.devices:
        if device.subject is None:
            continue
        end_ns, data = windows_on_grid(device.t_ns, device.values, imu)
        per_subject.setdefault(device.subject, []).append(StreamWindows(device.id, "imu", end_ns, data))
    for camera in recording.cameras:
        for track, subject in sorted(camera.tracks.items()):
            t_ns, keypoints = camera.for_track(track)
            end_ns, data = windows_on_grid(t_ns, keypoints, pose)
            name = camera.id if list(camera.tracks.values()).count(subject) == 1 else f"{camera.id}#{track}"
            per_subject.setdefault(subject, []).append(StreamWindows(name, "pose", end_ns, data))
    out: list[SubjectWindows] = []
    for subject in [s.id for s in recording.subjects]:
        streams = per_subject.get(subject, [])
        if not streams:
            continue
        out.append(_merge(subject, streams, recording.labels, imu, pose))
    return out


def _merge(
    subject: str, streams: Sequence[StreamWindows], labels: Sequence[LabelInterval], imu: WindowSpec, pose: WindowSpec
) -> SubjectWindows:
    end_ns = np.unique(np.concatenate([s.end_ns for s in streams]))
    result = SubjectWindows(
        subject=subject,
        end_ns=end_ns,
        labels=[activity_at(labels, subject, int(e) - imu.length_ns // 2) for e in end_ns],
        pose_labels=[activity_at(labels, subject, int(e) - pose.length_ns // 2) for e in end_ns],
    )
    for s in streams:
        pos = np.searchsorted(end_ns, s.end_ns)
        present = np.zeros(end_ns.shape[0], dtype=bool)
        present[pos] = True
        data = np.zeros((end_ns.shape[0],) + s.data.shape[1:], dtype=np.float32)
        data[pos] = s.data
        result.present[s.stream] = present
        result.data[s.stream] = data
        result.modality[s.stream] = s.modality
    return result


@dataclass(frozen=True)
class WindowSet:
    """Fixed-length training/evaluation windows of one modality.

    ``y`` holds class indices into ``classes`` (-1 = the window centre is unlabelled); ``group``
    is what a split is made on (subject or workout number); ``sequence`` tells windows of
    different sequences apart, and ``end_s`` (on that sequence's own time base) pairs windows of
    different devices of the same sequence."""

    x: np.ndarray  # (W, L, ...) float32
    y: np.ndarray  # (W,) int64
    classes: tuple[str, ...]
    group: np.ndarray  # (W,) int64
    sequence: np.ndarray  # (W,) int64
    end_s: np.ndarray  # (W,) float64

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def select(self, mask: np.ndarray) -> WindowSet:
        return WindowSet(self.x[mask], self.y[mask], self.classes, self.group[mask], self.sequence[mask], self.end_s[mask])

    def labelled(self) -> WindowSet:
        return self.select(self.y >= 0)

    @staticmethod
    def concat(parts: Sequence[WindowSet], classes: tuple[str, ...], window_shape: tuple[int, ...]) -> WindowSet:
        if not parts:
            return WindowSet(
                np.empty((0,) + window_shape, dtype=np.float32),
                np.empty(0, dtype=np.int64),
                classes,
                np.empty(0, dtype=np.int64),
                np.empty(0, dtype=np.int64),
                np.empty(0, dtype=np.float64),
            )
        return WindowSet(
            np.concatenate([p.x for p in parts]),
            np.concatenate([p.y for p in parts]),
            classes,
            np.concatenate([p.group for p in parts]),
            np.concatenate([p.sequence for p in parts]),
            np.concatenate([p.end_s for p in parts]),
        )


def label_at(sample_t_ns: np.ndarray, sample_y: np.ndarray, query_t_ns: np.ndarray) -> np.ndarray:
    """Per-sample labels read as a step function: the label of the last sample at or before each
    query time (-1 before the first sample)."""
    idx = np.searchsorted(sample_t_ns, query_t_ns, side="right") - 1
    return np.where(idx >= 0, sample_y[np.clip(idx, 0, None)], -1).astype(np.int64)


def windows_with_sample_labels(
    t_ns: np.ndarray, values: np.ndarray, sample_y: np.ndarray, spec: WindowSpec
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Resample, cut on the hop grid and label each window by the sample label at its centre.
    Returns (end_ns (W,), windows (W, L, ...), y (W,))."""
    end_ns, x = windows_on_grid(t_ns, values, spec)
    return end_ns, x, label_at(t_ns, sample_y, end_ns - spec.length_ns // 2)


def collapse_duplicate_times(t_ns: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sort by time and average samples that share a timestamp (phones deliver sensor events in
    batches stamped with one time). Returns (unique times, values, index of the first original
    sample of each unique time)."""
    order = np.argsort(t_ns, kind="stable")
    t_sorted, v_sorted = t_ns[order], values[order].astype(np.float64)
    unique, first, counts = np.unique(t_sorted, return_index=True, return_counts=True)
    if unique.shape[0] == t_sorted.shape[0]:
        return t_sorted, v_sorted, order
    sums = np.add.reduceat(v_sorted, first, axis=0)
    return unique, sums / counts.reshape((-1,) + (1,) * (values.ndim - 1)), order[first]
