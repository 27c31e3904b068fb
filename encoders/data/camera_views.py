"""Synthetic camera views of UTD-MHAD's Kinect skeletons, for pose training (issue 14).

The gateway's camera sees a person from wherever it is mounted; UTD-MHAD has one frontal
Kinect at about hip height. A 2D projection of the 3D skeleton from another camera shows what
that camera would see, so training crops can come from many cameras while the test data stay
the real frontal projection (:func:`encoders.data.pose_projection.kinect20_to_coco17`).

A view (:class:`CameraView`) is built in the person's frame: the skeleton is centred on the
clip's mean hip centre, turned about the vertical axis by ``yaw_deg`` (the person faces the
camera at 0°), and looked at by a pinhole camera ``distance_m`` in front of the hips and
``height_m`` above them, pitched so the hips sit on its optical axis, with focal length
``focal_px`` (640 × 480 image). The eyes and ears are synthesised in 3D before the turn, so
they move with the head.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .pose_projection import KINECT20_INDEX, coco17_points_3d, project_coco17
from .utd_mhad import _resolve_folder, evenly_spread_times, load_skeleton, resample_pose


@dataclass(frozen=True)
class CameraView:
    yaw_deg: float = 0.0
    height_m: float = 0.0
    distance_m: float = 3.0
    focal_px: float = 531.15


@dataclass(frozen=True)
class ViewRanges:
    """Uniform ranges the training views are drawn from (defaults: issue 14's ±45° turn, a camera
    from hip height to well above the head, 2.5-4.5 m away, lenses from wide to a little longer than the Kinect's, the whole body in the image)."""

    yaw_deg: float = 45.0
    height_m: tuple[float, float] = (-0.3, 1.5)
    distance_m: tuple[float, float] = (2.5, 4.5)
    focal_px: tuple[float, float] = (400.0, 650.0)

    def sample(self, rng: np.random.Generator) -> CameraView:
        return CameraView(
            yaw_deg=float(rng.uniform(-self.yaw_deg, self.yaw_deg)),
            height_m=float(rng.uniform(*self.height_m)),
            distance_m=float(rng.uniform(*self.distance_m)),
            focal_px=float(rng.uniform(*self.focal_px)),
        )


def view_points(points: np.ndarray, skeleton: np.ndarray, view: CameraView) -> np.ndarray:
    """Kinect-space points (F, K, 3) → the view's camera space (Kinect conventions: X to the
    camera's left, Y up, Z away from it), centred on ``skeleton``'s mean hip centre."""
    centre = skeleton[:, KINECT20_INDEX["hip_center"]].mean(axis=0)
    q = points - centre
    yaw = np.deg2rad(view.yaw_deg)
    c, s = np.cos(yaw), np.sin(yaw)
    turned = np.stack([c * q[..., 0] + s * q[..., 2], q[..., 1], -s * q[..., 0] + c * q[..., 2]], axis=-1)
    # Camera height_m above the hips, distance_m in front: hips at (0, -h, d) before the pitch,
    # then rotated about X by atan(h / d) so they land on the optical axis.
    y = turned[..., 1] - view.height_m
    z = turned[..., 2] + view.distance_m
    pitch = np.arctan2(view.height_m, view.distance_m)
    cp, sp = np.cos(pitch), np.sin(pitch)
    return np.stack([turned[..., 0], y * cp + z * sp, -y * sp + z * cp], axis=-1)


def render_view(skeleton: np.ndarray, view: CameraView) -> np.ndarray:
    """(F, 20, 3) Kinect skeleton → (F, 17, 3) float32 COCO-17 as ``view``'s camera sees it."""
    points, scores = coco17_points_3d(skeleton)
    return project_coco17(view_points(points, skeleton.astype(np.float64), view), scores, view.focal_px)


def _parse_key(key: str) -> tuple[int, int, int]:
    a, s, t = key.split("_")
    return int(a[1:]), int(s[1:]), int(t[1:])


def view_bank(
    keys: Sequence[str], imu_lengths: Sequence[int], datasets: Path | None, views: int, seed: int, ranges: ViewRanges | None = None, pose_rate_hz: float = 20.0, imu_rate_hz: float = 50.0
) -> dict[str, np.ndarray]:
    """Per UTD-MHAD clip key (``aA_sS_tT``), ``views`` random views [views, M, 17, 3] on the same
    pose time base as the training pairs (frames spread over the IMU clip, resampled to 20 Hz)."""
    ranges = ranges or ViewRanges()
    folder = _resolve_folder(datasets)
    rng = np.random.default_rng(seed)
    bank: dict[str, np.ndarray] = {}
    for key, n_imu in zip(keys, imu_lengths, strict=True):
        a, s, t = _parse_key(key)
        skeleton = load_skeleton(folder / "Skeleton" / f"a{a}_s{s}_t{t}_skeleton.mat")
        duration = n_imu / imu_rate_hz
        times = evenly_spread_times(skeleton.shape[0], duration)
        bank[key] = np.stack([resample_pose(render_view(skeleton, ranges.sample(rng)), times, pose_rate_hz, duration) for _ in range(views)]).astype(np.float32)
    return bank
