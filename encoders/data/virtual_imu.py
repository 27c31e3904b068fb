"""Virtual IMU: accelerometer and gyroscope simulated from UTD-MHAD's Kinect 3D joints.

The route UniMTS and MuJo took for more IMU signal without more labels: a sensor is placed on a
body segment of the skeleton and its readings are derived from the segment's motion.

Per clip, for the dataset's own placement (right wrist for actions 1-21, right thigh for 22-27):

1. The sensor's position (the right wrist joint; the middle of the right hip→knee bone) and the
   segment's two end joints are interpolated with a cubic spline from the skeleton's frame times
   onto the IMU's sample times ``k / 50 s`` (the real clip's samples, so the virtual clip pairs
   with the same pose windows), then smoothed by a Savitzky-Golay filter (Kinect v1 joints jitter
   by centimetres; a second derivative amplifies that).
2. Linear acceleration ``a`` = the filter's second derivative of the position (m/s²).
3. Sensor orientation ``R`` (columns = sensor axes in the Kinect frame): x along the bone
   (forearm elbow→wrist, thigh hip→knee), y = the body's left→right reference (shoulder or hip
   line) made orthogonal to x, z = x × y. Where the bone is nearly parallel to that line, the
   world "up" axis is the reference instead. Forearm twist (pronation) is not observable from
   Kinect v1's joints and is not simulated.
4. Accelerometer = ``R^T (a + g·up)``: specific force with gravity, as a real accelerometer and
   the dataset's ``m/s²`` channels report it (at rest it reads +9.81 m/s² along "up").
   Kinect skeleton space has Y up (pose_projection's docstring).
5. Gyroscope = angular velocity in the sensor frame from consecutive orientations:
   ``log(R_{k-1}^T R_{k+1}) / (2 dt)`` (rad/s), one-sided at the ends.

The real sensor's axes are not the bone frame: :func:`fit_mounting` estimates one fixed rotation
per placement (Wahba's problem, training subjects' real and virtual readings, no labels), and
:func:`augment_virtual` adds noise, bias, a small random mounting rotation and gain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.signal import savgol_filter
from scipy.spatial.transform import Rotation

from .utd_mhad import IMU_RATE_HZ, STANDARD_GRAVITY, evenly_spread_times

#: Kinect v1 joint indices (0-based, skeleton_joint_order.txt)
LEFT_SHOULDER: Final = 4
RIGHT_SHOULDER: Final = 8
RIGHT_ELBOW: Final = 9
RIGHT_WRIST: Final = 10
LEFT_HIP: Final = 12
RIGHT_HIP: Final = 16
RIGHT_KNEE: Final = 17
#: Kinect skeleton space: Y up
KINECT_UP: Final = np.array([0.0, 1.0, 0.0])
#: Savitzky-Golay window (samples at 50 Hz): 0.3 s, cubic, keeps arm swings (≤ ~3 Hz) and
#: removes the joint jitter the second derivative would amplify
SMOOTH_WINDOW: Final = 15
SMOOTH_ORDER: Final = 3
#: below this |sin| between bone and reference the reference switches to "up"
_DEGENERATE_SIN: Final = 0.2


@dataclass(frozen=True)
class Segment:
    """Where the virtual sensor sits: position, and the bone and reference giving its axes."""

    #: sensor position = origin + along · (tip − origin)
    along: float
    origin: int
    tip: int
    #: left→right reference (completes the frame)
    ref_from: int
    ref_to: int


PLACEMENTS: Final[dict[str, Segment]] = {
    "wrist": Segment(along=1.0, origin=RIGHT_ELBOW, tip=RIGHT_WRIST, ref_from=LEFT_SHOULDER, ref_to=RIGHT_SHOULDER),
    "thigh": Segment(along=0.5, origin=RIGHT_HIP, tip=RIGHT_KNEE, ref_from=LEFT_HIP, ref_to=RIGHT_HIP),
}


def _unit(v: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(norm > 1e-12, norm, 1.0)


def bone_frames(origin: np.ndarray, tip: np.ndarray, reference: np.ndarray, up: np.ndarray = KINECT_UP) -> np.ndarray:
    """(T, 3, 3) rotations whose columns are the sensor axes: x along origin→tip, y the
    reference direction made orthogonal to x (``up`` where the two are nearly parallel)."""
    x = _unit(tip - origin)
    ref = _unit(reference)
    sin = np.linalg.norm(np.cross(x, ref), axis=-1, keepdims=True)
    ref = np.where(sin < _DEGENERATE_SIN, np.broadcast_to(up, ref.shape), ref)
    y = _unit(ref - np.sum(ref * x, axis=-1, keepdims=True) * x)
    z = np.cross(x, y)
    return np.stack([x, y, z], axis=-1)


def angular_velocity(frames: np.ndarray, rate_hz: float) -> np.ndarray:
    """(T, 3) body-frame angular velocity (rad/s) of (T, 3, 3) orientations sampled at ``rate_hz``."""
    if frames.shape[0] < 2:
        return np.zeros((frames.shape[0], 3))
    prev = np.concatenate([frames[:1], frames[:-2], frames[-2:-1]])
    nxt = np.concatenate([frames[1:2], frames[2:], frames[-1:]])
    steps = np.full(frames.shape[0], 2.0)
    steps[0] = steps[-1] = 1.0
    relative = np.einsum("tji,tjk->tik", prev, nxt)  # prev^T @ next
    return Rotation.from_matrix(relative).as_rotvec() * (rate_hz / steps)[:, None]


def simulate_segment(
    origin: np.ndarray, tip: np.ndarray, reference: np.ndarray, along: float, times_s: np.ndarray, count: int,
    rate_hz: float = IMU_RATE_HZ, up: np.ndarray = KINECT_UP, smooth: bool = True,
) -> np.ndarray:
    """(count, 6) float32 virtual IMU (acc m/s² with gravity, gyro rad/s) at ``k / rate_hz``.

    ``origin``/``tip``/``reference`` are (F, 3) positions [m] (reference: a direction) at the
    increasing ``times_s``; outside their span the spline extrapolates, so times are clamped.
    """
    targets = np.clip(np.arange(count) / rate_hz, times_s[0], times_s[-1])
    dt = 1.0 / rate_hz

    def resample(values: np.ndarray) -> np.ndarray:
        out = CubicSpline(times_s, values, axis=0)(targets)
        window = min(SMOOTH_WINDOW, count - (1 - count % 2))
        if smooth and window > SMOOTH_ORDER:
            out = savgol_filter(out, window, SMOOTH_ORDER, axis=0, mode="interp")
        return out

    o, t, ref = resample(origin), resample(tip), resample(reference)
    position = o + along * (t - o)
    window = min(SMOOTH_WINDOW, count - (1 - count % 2))
    if window > SMOOTH_ORDER:
        accel = savgol_filter(position, window, SMOOTH_ORDER, deriv=2, delta=dt, axis=0, mode="interp")
    else:
        accel = np.gradient(np.gradient(position, dt, axis=0), dt, axis=0)
    frames = bone_frames(o, t, ref, up)
    specific_force = accel + STANDARD_GRAVITY * up
    acc = np.einsum("tji,tj->ti", frames, specific_force)  # R^T f
    gyro = angular_velocity(frames, rate_hz)
    return np.concatenate([acc, gyro], axis=1).astype(np.float32)


def simulate_clip(skeleton: np.ndarray, placement: str, count: int) -> np.ndarray:
    """Virtual (count, 6) IMU of one UTD-MHAD clip: ``skeleton`` (F, 20, 3) [m] spread evenly
    over the real clip's ``count / 50`` s (as utd_mhad does), ``placement`` 'wrist'/'thigh'."""
    if placement not in PLACEMENTS:
        raise ValueError(f"unknown placement {placement!r}; one of {sorted(PLACEMENTS)}")
    seg = PLACEMENTS[placement]
    times = evenly_spread_times(skeleton.shape[0], count / IMU_RATE_HZ)
    reference = skeleton[:, seg.ref_to] - skeleton[:, seg.ref_from]
    return simulate_segment(skeleton[:, seg.origin], skeleton[:, seg.tip], reference, seg.along, times, count)


def fit_mounting(real: Sequence[np.ndarray], virtual: Sequence[np.ndarray], gyro_weight: float = 3.0) -> np.ndarray:
    """The one rotation M (3×3) with real ≈ M · virtual over all samples (acc and weighted gyro
    vectors together), i.e. the bone frame → the real sensor's axes. Needs no labels."""
    r = np.concatenate([np.concatenate([c[:, :3], gyro_weight * c[:, 3:]]) for c in real])
    v = np.concatenate([np.concatenate([c[:, :3], gyro_weight * c[:, 3:]]) for c in virtual])
    rotation = Rotation.align_vectors(r, v)[0]
    return rotation.as_matrix()


def rotate_imu(imu: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(N, 6) readings expressed in a frame rotated by ``matrix`` (acc and gyro alike)."""
    out = np.empty_like(imu)
    out[:, :3] = imu[:, :3] @ matrix.T
    out[:, 3:] = imu[:, 3:] @ matrix.T
    return out


@dataclass(frozen=True)
class VirtualAugment:
    """Per-copy sensor imperfections (one draw per virtual clip; the training batcher adds its
    own per-window rotation, gain and noise on top)."""

    mount_deg: float = 10.0
    gain: float = 0.1
    acc_bias: float = 0.2  # m/s²
    gyro_bias: float = 0.05  # rad/s
    acc_noise: float = 0.1  # m/s² per sample
    gyro_noise: float = 0.03  # rad/s per sample


DEFAULT_AUGMENT: Final = VirtualAugment()


def augment_virtual(imu: np.ndarray, rng: np.random.Generator, spec: VirtualAugment = DEFAULT_AUGMENT) -> np.ndarray:
    """One imperfect copy of a (N, 6) virtual IMU: small mounting rotation, gain, bias, noise."""
    rotation = Rotation.from_rotvec(_unit(rng.standard_normal(3)) * np.deg2rad(rng.uniform(-spec.mount_deg, spec.mount_deg))).as_matrix()
    out = rotate_imu(imu.astype(np.float64), rotation)
    out[:, :3] *= rng.uniform(1 - spec.gain, 1 + spec.gain)
    out[:, 3:] *= rng.uniform(1 - spec.gain, 1 + spec.gain)
    out[:, :3] += rng.normal(0.0, spec.acc_bias, 3) + rng.normal(0.0, spec.acc_noise, out[:, :3].shape)
    out[:, 3:] += rng.normal(0.0, spec.gyro_bias, 3) + rng.normal(0.0, spec.gyro_noise, out[:, 3:].shape)
    return out.astype(np.float32)


__all__ = [
    "DEFAULT_AUGMENT", "PLACEMENTS", "Segment", "VirtualAugment", "angular_velocity", "augment_virtual", "bone_frames",
    "fit_mounting", "rotate_imu", "simulate_clip", "simulate_segment",
]
