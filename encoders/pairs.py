"""Time-aligned IMU/pose windows cut from clips: what training and clip-level evaluation see.

Each clip's pose is resampled onto the pose encoder's rate over the IMU clip's span, so an
IMU window starting at sample ``s`` (50 Hz) and the pose window starting at frame
``s * 20 / 50`` cover the same 2 s. Starts are kept on multiples of 5 IMU samples (0.1 s) so
both starts are whole samples; clips shorter than a window are padded by repeating the edge
sample, as the gateway would see a short burst.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from encoders.data.utd_mhad import Clip, resample_pose
from encoders.data.windows import IMU_WINDOW as IMU_SPEC
from encoders.data.windows import POSE_WINDOW as POSE_SPEC

# The gateway's windows (data.windows), in samples: what the encoders take.
IMU_RATE_HZ = IMU_SPEC.rate_hz
POSE_RATE_HZ = POSE_SPEC.rate_hz
IMU_WINDOW = IMU_SPEC.length
IMU_HOP = IMU_SPEC.hop
POSE_WINDOW = POSE_SPEC.length
POSE_HOP = POSE_SPEC.hop
#: IMU samples per aligned step (0.1 s): the smallest shift that is whole in both streams
ALIGN_STEP = 5
_POSE_PER_STEP = 2


@dataclass(frozen=True)
class PairedClip:
    key: str
    label: int
    subject: int
    imu: np.ndarray  # (N, 6) float32, raw units
    pose: np.ndarray  # (M, 17, 3) float32 at POSE_RATE_HZ over the same span
    placement: str = "unknown"
    #: False when the interval had no such stream (a site's IMU-only or camera-only data):
    #: the array is a zero placeholder of the right length and training masks that modality
    has_imu: bool = True
    has_pose: bool = True


@dataclass(frozen=True)
class WindowRef:
    clip: int  # index into the clip list
    start: int  # IMU sample index, multiple of ALIGN_STEP


class Labelled(Protocol):
    """Anything with a class index (a PairedClip, a window-pool anchor)."""

    @property
    def label(self) -> int: ...


class ImuSamples(Protocol):
    """Anything with IMU samples [N, 6] and whether it has them (a PairedClip, a pool of windows)."""

    @property
    def imu(self) -> np.ndarray: ...

    @property
    def has_imu(self) -> bool: ...


def paired_from_utd(clips: Iterable[Clip]) -> list[PairedClip]:
    """Adapt ``encoders.data.utd_mhad.Clip`` objects (pose resampled to POSE_RATE_HZ)."""
    out = []
    for clip in clips:
        duration = clip.imu.shape[0] / IMU_RATE_HZ
        pose = resample_pose(clip.pose, clip.pose_times_s, POSE_RATE_HZ, duration)
        out.append(
            PairedClip(
                key=clip.key,
                label=int(clip.label),
                subject=int(clip.subject),
                imu=np.ascontiguousarray(clip.imu, dtype=np.float32),
                pose=np.ascontiguousarray(pose, dtype=np.float32),
                placement=clip.placement,
            )
        )
    return out


def _edge_crop(array: np.ndarray, start: int, length: int) -> np.ndarray:
    n = array.shape[0]
    idx = np.clip(np.arange(start, start + length), 0, n - 1)
    return array[idx]


def crop(clip: PairedClip, start: int) -> tuple[np.ndarray, np.ndarray]:
    """IMU window [6, IMU_WINDOW] and pose window [POSE_WINDOW, 17, 3] starting at IMU sample ``start``."""
    if start % ALIGN_STEP:
        raise ValueError(f"window start {start} is not a multiple of {ALIGN_STEP}")
    imu = _edge_crop(clip.imu, start, IMU_WINDOW).T
    pose = _edge_crop(clip.pose, start // ALIGN_STEP * _POSE_PER_STEP, POSE_WINDOW)
    return np.ascontiguousarray(imu), np.ascontiguousarray(pose)


def crop_pose(pose: np.ndarray, start: int) -> np.ndarray:
    """The pose window [POSE_WINDOW, 17, 3] of a pose sequence on a clip's pose time base that
    pairs with the IMU window starting at sample ``start`` (as :func:`crop`)."""
    return np.ascontiguousarray(_edge_crop(pose, start // ALIGN_STEP * _POSE_PER_STEP, POSE_WINDOW))


def max_start(clip: PairedClip) -> int:
    """Largest aligned start whose window still lies inside the clip (0 for short clips)."""
    last = max(0, clip.imu.shape[0] - IMU_WINDOW)
    return last - last % ALIGN_STEP


def window_starts(clip: PairedClip) -> list[int]:
    """Starts at IMU_HOP, plus one flush with the clip's end so its tail is covered."""
    last = max_start(clip)
    starts = list(range(0, last + 1, IMU_HOP))
    if starts[-1] != last:
        starts.append(last)
    return starts


def enumerate_windows(clips: Sequence[PairedClip]) -> list[WindowRef]:
    return [WindowRef(i, s) for i, clip in enumerate(clips) for s in window_starts(clip)]


def stack_windows(clips: Sequence[PairedClip], refs: Sequence[WindowRef]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    imu = np.empty((len(refs), 6, IMU_WINDOW), dtype=np.float32)
    pose = np.empty((len(refs), POSE_WINDOW, 17, 3), dtype=np.float32)
    labels = np.empty(len(refs), dtype=np.int64)
    for row, ref in enumerate(refs):
        imu[row], pose[row] = crop(clips[ref.clip], ref.start)
        labels[row] = clips[ref.clip].label
    return imu, pose, labels


def labelled_subset(refs: Sequence[WindowRef], clips: Sequence[Labelled], fraction: float, num_classes: int, seed: int) -> list[WindowRef]:
    """A stratified ``fraction`` of the windows: per class round(fraction · n), at least one.

    Stratifying per class keeps every class present at 2 %, where plain random sampling of
    ~35 windows would leave some of 27 classes out entirely.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"label fraction must be in (0, 1], got {fraction}")
    if fraction >= 1.0:
        return list(refs)
    rng = np.random.default_rng(seed)
    by_class: dict[int, list[int]] = {c: [] for c in range(num_classes)}
    for i, ref in enumerate(refs):
        by_class[clips[ref.clip].label].append(i)
    chosen: list[int] = []
    for c in range(num_classes):
        members = by_class[c]
        if not members:
            continue
        take = max(1, int(round(fraction * len(members))))
        chosen.extend(rng.choice(members, size=take, replace=False).tolist())
    return [refs[i] for i in sorted(chosen)]


def imu_statistics(clips: Sequence[ImuSamples]) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean/std over all training samples (the constants baked into the graph)."""
    with_imu = [c.imu for c in clips if c.has_imu]
    if not with_imu:  # camera-only data: the IMU encoder is never used, identity is harmless
        return np.zeros(6, dtype=np.float32), np.ones(6, dtype=np.float32)
    stacked = np.concatenate(with_imu, axis=0).astype(np.float64)
    return stacked.mean(axis=0).astype(np.float32), stacked.std(axis=0).astype(np.float32)
