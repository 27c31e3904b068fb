"""Virtual IMU simulation against analytic motion, and on real UTD-MHAD skeletons."""

from __future__ import annotations

import numpy as np
import pytest

from encoders.data.utd_mhad import STANDARD_GRAVITY
from encoders.data.virtual_imu import (
    KINECT_UP,
    VirtualAugment,
    angular_velocity,
    augment_virtual,
    bone_frames,
    fit_mounting,
    rotate_imu,
    simulate_clip,
    simulate_segment,
)


def _rotating_bone(omega: float, radius: float, seconds: float = 4.0, frame_rate: float = 20.0) -> tuple[np.ndarray, ...]:
    """A bone from the origin to a tip on a horizontal circle (Kinect Y up), turning at
    ``omega`` rad/s about the vertical axis; the reference is the vertical itself."""
    times = np.arange(int(seconds * frame_rate)) / frame_rate
    tip = np.stack([radius * np.cos(omega * times), np.zeros_like(times), radius * np.sin(omega * times)], axis=1)
    origin = np.zeros_like(tip)
    reference = np.broadcast_to(KINECT_UP, tip.shape).copy()
    return origin, tip, reference, times


def test_circle_gives_centripetal_acceleration_gravity_and_the_turn_rate() -> None:
    omega, radius = 2.0, 0.3
    origin, tip, reference, times = _rotating_bone(omega, radius)
    count = int(times[-1] * 50)
    imu = simulate_segment(origin, tip, reference, along=1.0, times_s=times, count=count)
    inner = imu[20:-20]  # away from the filter's edges
    # Sensor x points along the bone (outwards): centripetal acceleration -omega² r on x.
    np.testing.assert_allclose(inner[:, 0], -(omega**2) * radius, atol=0.02)
    # Sensor y is "up": gravity's reaction +9.81; z (tangential) sees nothing.
    np.testing.assert_allclose(inner[:, 1], STANDARD_GRAVITY, atol=0.02)
    np.testing.assert_allclose(inner[:, 2], 0.0, atol=0.02)
    # The bone turns about the vertical, i.e. about sensor y; the sign follows the right-hand rule.
    # Tip (cos, 0, sin): turning from +X towards +Z is a rotation by -omega about +Y.
    np.testing.assert_allclose(inner[:, 3:], np.tile([0.0, -omega, 0.0], (len(inner), 1)), atol=1e-3)


def test_a_faster_turn_scales_acceleration_and_rate_as_theory_says() -> None:
    out = []
    for omega in (1.0, 3.0):
        origin, tip, reference, times = _rotating_bone(omega, 0.5)
        out.append(simulate_segment(origin, tip, reference, 1.0, times, int(times[-1] * 50))[30:-30])
    slow, fast = out
    assert np.median(fast[:, 0]) / np.median(slow[:, 0]) == pytest.approx(9.0, rel=0.02)
    assert np.median(fast[:, 4]) / np.median(slow[:, 4]) == pytest.approx(3.0, rel=0.01)


def test_static_pose_reads_gravity_only() -> None:
    rng = np.random.default_rng(0)
    times = np.arange(30) / 19.0
    origin = np.tile([0.1, 1.0, 2.5], (30, 1))
    tip = origin + np.tile(rng.standard_normal(3) * 0.3, (30, 1))
    reference = np.tile([1.0, 0.0, 0.0], (30, 1))
    imu = simulate_segment(origin, tip, reference, 1.0, times, count=78)
    np.testing.assert_allclose(np.linalg.norm(imu[:, :3], axis=1), STANDARD_GRAVITY, atol=1e-4)
    np.testing.assert_allclose(imu[:, 3:], 0.0, atol=1e-6)


def test_frames_are_rotations_even_when_the_bone_lies_along_the_reference() -> None:
    origin = np.zeros((3, 3))
    tip = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.3, 0.2, 0.9]])
    reference = np.tile([1.0, 0.0, 0.0], (3, 1))  # parallel to the first bone
    frames = bone_frames(origin, tip, reference)
    for r in frames:
        np.testing.assert_allclose(r.T @ r, np.eye(3), atol=1e-9)
        assert np.linalg.det(r) == pytest.approx(1.0)
    np.testing.assert_allclose(frames[0][:, 1], KINECT_UP)  # fell back to "up"


def test_angular_velocity_of_a_constant_turn_about_a_tilted_axis() -> None:
    axis = np.array([1.0, 2.0, 2.0]) / 3.0
    rate = 1.5
    from scipy.spatial.transform import Rotation

    t = np.arange(50) / 50.0
    frames = Rotation.from_rotvec(np.outer(rate * t, axis)).as_matrix()
    # Body-frame angular velocity of a rotation about a fixed axis is the axis itself (R^T a = a).
    np.testing.assert_allclose(angular_velocity(frames, 50.0), np.tile(rate * axis, (50, 1)), atol=1e-9)


def test_fit_mounting_recovers_a_known_sensor_rotation() -> None:
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(1)
    virtual = [rng.standard_normal((200, 6)).astype(np.float32) for _ in range(3)]
    mount = Rotation.from_euler("xyz", [90, -30, 170], degrees=True).as_matrix()
    real = [rotate_imu(v, mount) for v in virtual]
    np.testing.assert_allclose(fit_mounting(real, virtual), mount, atol=1e-5)


def test_augmentation_keeps_shape_and_changes_values_by_a_bounded_amount() -> None:
    rng = np.random.default_rng(2)
    imu = np.tile(np.array([0.0, 9.81, 0.0, 0.5, 0.0, 0.0], dtype=np.float32), (100, 1))
    out = augment_virtual(imu, rng, VirtualAugment())
    assert out.shape == imu.shape and out.dtype == np.float32
    assert not np.allclose(out, imu)
    assert abs(np.linalg.norm(out[:, :3], axis=1).mean() - 9.81) < 1.5


def test_real_utd_skeleton_gives_plausible_wrist_and_thigh_readings(datasets) -> None:
    from encoders.data.utd_mhad import list_clip_keys, load_inertial, load_skeleton

    root = datasets / "utd-mhad"
    keys = list_clip_keys(root)
    checked = set()
    for action, subject, trial in keys:
        placement = "thigh" if action >= 22 else "wrist"
        if placement in checked:
            continue
        stem = root / "Skeleton" / f"a{action}_s{subject}_t{trial}_skeleton.mat"
        real = load_inertial(root / "Inertial" / f"a{action}_s{subject}_t{trial}_inertial.mat")
        virtual = simulate_clip(load_skeleton(stem), placement, real.shape[0])
        assert virtual.shape == real.shape and np.all(np.isfinite(virtual))
        # Mostly slow human motion: the mean specific force is within 0.4 g of 1 g, as the real sensor's
        # (Kinect jitter makes the virtual one noisier: 12.6 vs 10.1 m/s² on a1_s1_t1).
        assert abs(np.linalg.norm(virtual[:, :3], axis=1).mean() - STANDARD_GRAVITY) < 4.0
        assert abs(np.linalg.norm(real[:, :3], axis=1).mean() - STANDARD_GRAVITY) < 4.0
        assert np.abs(virtual[:, 3:]).max() < 30.0  # rad/s: no frame flips
        checked.add(placement)
    assert checked, "no clip in the data set"
