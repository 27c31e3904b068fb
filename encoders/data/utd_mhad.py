"""UTD-MHAD loader: wrist/thigh IMU + Kinect skeleton (projected to COCO-17 2D) per clip.

Files (see the README's "Data sets"; a subset with its PROVENANCE.md is in
``encoders/tests/fixtures/datasets/utd-mhad``): ``Inertial/aA_sS_tT_inertial.mat``
(``d_iner``, (N, 6): acc in g, gyro in deg/s, 50 Hz) and ``Skeleton/aA_sS_tT_skeleton.mat``
(``d_skel``, (20, 3, F), metres). The skeleton frame counts imply 11-21 frames/s (median 19) rather than the
nominal 30, so each clip's F frames are spread evenly over the IMU clip's duration (N / 50 s):
frame k is at ``k * duration / F``, the same "sample k at k / rate" convention as the IMU.

Units after loading: acceleration m/s² (g × 9.80665, gravity included), angular rate rad/s.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import scipy.io

from .errors import DatasetError
from .paths import dataset_dir
from .pose_projection import kinect20_to_coco17

STANDARD_GRAVITY: Final = 9.80665
IMU_RATE_HZ: Final = 50.0
CROSS_SUBJECT_TRAIN: Final = (1, 3, 5, 7)
CROSS_SUBJECT_TEST: Final = (2, 4, 6, 8)
SUBJECTS: Final = tuple(range(1, 9))
TRIALS: Final = (1, 2, 3, 4)
THIGH_ACTIONS: Final = frozenset(range(22, 28))
DATASET_DIRNAME: Final = "utd-mhad"


@dataclass(frozen=True)
class ClassInfo:
    id: str
    name: str
    description: str
    source_label: int


UTD_CLASSES: Final[tuple[ClassInfo, ...]] = (
    ClassInfo("swipe_left", "Swipe left", "A person swipes the right arm across the body from right to left.", 1),
    ClassInfo("swipe_right", "Swipe right", "A person swipes the right arm across the body from left to right.", 2),
    ClassInfo("wave", "Wave", "A person raises the right hand and waves it from side to side.", 3),
    ClassInfo("clap", "Clap", "A person claps both hands together in front of the chest.", 4),
    ClassInfo("throw", "Throw", "A person throws an object forward with the right arm over the shoulder.", 5),
    ClassInfo("arm_cross", "Arm cross", "A person crosses both arms over the chest.", 6),
    ClassInfo("basketball_shoot", "Basketball shoot", "A person shoots a basketball by pushing both hands up and forward from the chest.", 7),
    ClassInfo("draw_x", "Draw X", "A person draws a large letter X in the air with the right hand.", 8),
    ClassInfo("draw_circle_cw", "Draw circle clockwise", "A person draws a circle clockwise in the air with the right hand.", 9),
    ClassInfo("draw_circle_ccw", "Draw circle counter-clockwise", "A person draws a circle counter-clockwise in the air with the right hand.", 10),
    ClassInfo("draw_triangle", "Draw triangle", "A person draws a triangle in the air with the right hand.", 11),
    ClassInfo("bowling", "Bowling", "A person bowls a ball with the right hand, swinging the arm back and then forward low to the ground.", 12),
    ClassInfo("boxing", "Boxing", "A person punches forward with alternating fists in a boxing stance.", 13),
    ClassInfo("baseball_swing", "Baseball swing", "A person swings a baseball bat with both hands from the right side across the body.", 14),
    ClassInfo("tennis_swing", "Tennis forehand", "A person swings a tennis racket forehand with the right hand from back to front.", 15),
    ClassInfo("arm_curl", "Arm curl", "A person curls both forearms up towards the shoulders by bending the elbows, like a biceps curl.", 16),
    ClassInfo("tennis_serve", "Tennis serve", "A person serves a tennis ball, swinging the right arm up and over the head.", 17),
    ClassInfo("push", "Push", "A person pushes forward with both hands from the chest.", 18),
    ClassInfo("knock", "Knock", "A person knocks on a door with the right fist.", 19),
    ClassInfo("catch", "Catch", "A person reaches out with the right hand and catches an object.", 20),
    ClassInfo("pickup_throw", "Pick up and throw", "A person bends down, picks up an object with the right hand and throws it.", 21),
    ClassInfo("jog", "Jog in place", "A person jogs in place, lifting the knees alternately.", 22),
    ClassInfo("walk", "Walk in place", "A person walks in place, stepping the feet alternately.", 23),
    ClassInfo("sit_to_stand", "Sit to stand", "A person stands up from sitting on a chair.", 24),
    ClassInfo("stand_to_sit", "Stand to sit", "A person sits down on a chair from standing.", 25),
    ClassInfo("lunge", "Forward lunge", "A person steps forward with the left foot into a lunge and returns to standing.", 26),
    ClassInfo("squat", "Squat", "A person squats down with both arms stretched out in front and stands back up.", 27),
)

_NAME_RE: Final = re.compile(r"^a(\d+)_s(\d+)_t(\d+)_(inertial|skeleton)\.mat$")


@dataclass(frozen=True)
class Clip:
    action: int
    subject: int
    trial: int
    imu: np.ndarray  # (N, 6) float32: ax, ay, az [m/s²], gx, gy, gz [rad/s]
    pose: np.ndarray  # (F, 17, 3) float32 COCO-17: x, y normalised (x right, y down), score
    pose_times_s: np.ndarray  # (F,) float64 seconds from clip start
    placement: str  # 'wrist' (actions 1-21) or 'thigh' (22-27)

    @property
    def label(self) -> int:
        """Class index into :data:`UTD_CLASSES` (action - 1)."""
        return self.action - 1

    @property
    def class_info(self) -> ClassInfo:
        return UTD_CLASSES[self.label]

    @property
    def duration_s(self) -> float:
        return self.imu.shape[0] / IMU_RATE_HZ

    @property
    def key(self) -> str:
        return f"a{self.action}_s{self.subject}_t{self.trial}"


def placement_for(action: int) -> str:
    return "thigh" if action in THIGH_ACTIONS else "wrist"


def _load_mat_array(path: Path, variable: str) -> np.ndarray:
    if not path.is_file():
        raise DatasetError(path, "file is missing")
    try:
        content = scipy.io.loadmat(str(path))
    except Exception as exc:  # noqa: BLE001 - scipy fails on garbage with many exception types
        raise DatasetError(path, f"not a readable MATLAB file ({type(exc).__name__}: {exc})") from exc
    if variable not in content:
        found = sorted(k for k in content if not k.startswith("__"))
        raise DatasetError(path, f"has no variable {variable!r} (found {found})")
    array = np.asarray(content[variable])
    if not np.issubdtype(array.dtype, np.number):
        raise DatasetError(path, f"variable {variable!r} is not numeric (dtype {array.dtype})")
    if not np.all(np.isfinite(array)):
        raise DatasetError(path, f"variable {variable!r} contains NaN or infinite values")
    return array


def load_inertial(path: Path) -> np.ndarray:
    """(N, 6) float32 in m/s² and rad/s from one ``*_inertial.mat``."""
    raw = _load_mat_array(path, "d_iner")
    if raw.ndim != 2 or raw.shape[1] != 6 or raw.shape[0] < 2:
        raise DatasetError(path, f"d_iner has shape {raw.shape}, expected (N>=2, 6)")
    out = np.empty(raw.shape, dtype=np.float32)
    out[:, :3] = raw[:, :3] * STANDARD_GRAVITY
    out[:, 3:] = np.deg2rad(raw[:, 3:])
    return out


def load_skeleton(path: Path) -> np.ndarray:
    """(F, 20, 3) float64 Kinect joint positions [m] from one ``*_skeleton.mat``."""
    raw = _load_mat_array(path, "d_skel")
    if raw.ndim != 3 or raw.shape[:2] != (20, 3) or raw.shape[2] < 2:
        raise DatasetError(path, f"d_skel has shape {raw.shape}, expected (20, 3, F>=2)")
    return np.ascontiguousarray(np.transpose(raw, (2, 0, 1)), dtype=np.float64)


def evenly_spread_times(frames: int, duration_s: float) -> np.ndarray:
    """Frame k at ``k * duration_s / frames`` (float64 seconds)."""
    return np.arange(frames, dtype=np.float64) * (duration_s / frames)


def load_clip(root: Path, action: int, subject: int, trial: int) -> Clip:
    """One clip; ``root`` is the ``utd-mhad`` folder."""
    stem = f"a{action}_s{subject}_t{trial}"
    imu = load_inertial(root / "Inertial" / f"{stem}_inertial.mat")
    skeleton = load_skeleton(root / "Skeleton" / f"{stem}_skeleton.mat")
    duration = imu.shape[0] / IMU_RATE_HZ
    return Clip(
        action=action,
        subject=subject,
        trial=trial,
        imu=imu,
        pose=kinect20_to_coco17(skeleton),
        pose_times_s=evenly_spread_times(skeleton.shape[0], duration),
        placement=placement_for(action),
    )


def list_clip_keys(root: Path) -> list[tuple[int, int, int]]:
    """(action, subject, trial) of every inertial file, sorted; a missing skeleton partner is
    reported by :func:`load_clip` rather than skipped, so nothing is silently dropped."""
    inertial_dir = root / "Inertial"
    if not inertial_dir.is_dir():
        raise DatasetError(inertial_dir, "UTD-MHAD Inertial/ folder is missing (set MUJO_DATASETS?)")
    keys: list[tuple[int, int, int]] = []
    for path in inertial_dir.iterdir():
        match = _NAME_RE.match(path.name)
        if match is None or match.group(4) != "inertial":
            continue
        action, subject, trial = (int(match.group(i)) for i in (1, 2, 3))
        if not (1 <= action <= len(UTD_CLASSES)) or subject not in SUBJECTS:
            raise DatasetError(path, f"action {action} / subject {subject} outside UTD-MHAD's range")
        keys.append((action, subject, trial))
    if not keys:
        raise DatasetError(inertial_dir, "contains no aA_sS_tT_inertial.mat files")
    return sorted(keys)


def load_utd_mhad(root: Path | None = None, subjects: Iterable[int] | None = None) -> list[Clip]:
    """All clips (optionally only some subjects), ordered by (action, subject, trial).

    ``root`` is the datasets root (the folder holding ``utd-mhad/``) or the ``utd-mhad`` folder
    itself; default :func:`~encoders.data.paths.datasets_root`.
    """
    folder = _resolve_folder(root)
    wanted = None if subjects is None else frozenset(int(s) for s in subjects)
    return [
        load_clip(folder, a, s, t)
        for a, s, t in list_clip_keys(folder)
        if wanted is None or s in wanted
    ]


def _resolve_folder(root: Path | None) -> Path:
    if root is None:
        return dataset_dir(DATASET_DIRNAME)
    root = Path(root)
    if (root / "Inertial").is_dir():
        return root
    return root / DATASET_DIRNAME


def resample_pose(pose: np.ndarray, times_s: np.ndarray, rate_hz: float, duration_s: float) -> np.ndarray:
    """Linearly interpolate a (F, 17, 3) pose sequence onto ``t = k / rate_hz`` for
    ``k = 0 .. floor(duration_s * rate_hz) - 1``, holding the first/last frame beyond the ends."""
    if pose.ndim < 2 or pose.shape[0] != times_s.shape[0]:
        raise ValueError(f"pose {pose.shape} and times {times_s.shape} disagree on the frame count")
    count = int(np.floor(duration_s * rate_hz + 1e-9))
    targets = np.arange(count, dtype=np.float64) / rate_hz
    return interpolate_rows(pose, times_s, targets).astype(pose.dtype, copy=False)


def interpolate_rows(values: np.ndarray, times_s: np.ndarray, targets_s: np.ndarray) -> np.ndarray:
    """Linear interpolation of ``values`` (T, ...) sampled at increasing ``times_s`` (T,) onto
    ``targets_s`` (M,), holding the edge values outside the sampled span. Returns (M, ...) float64."""
    if values.shape[0] == 0:
        raise ValueError("cannot interpolate an empty sequence")
    flat = values.reshape(values.shape[0], -1).astype(np.float64, copy=False)
    if values.shape[0] == 1:
        out = np.repeat(flat, targets_s.shape[0], axis=0)
        return out.reshape((targets_s.shape[0],) + values.shape[1:])
    right = np.clip(np.searchsorted(times_s, targets_s, side="right"), 1, len(times_s) - 1)
    left = right - 1
    t0, t1 = times_s[left], times_s[right]
    span = np.where(t1 > t0, t1 - t0, 1.0)
    w = np.clip((targets_s - t0) / span, 0.0, 1.0)[:, None]
    out = flat[left] * (1.0 - w) + flat[right] * w
    return out.reshape((targets_s.shape[0],) + values.shape[1:])
