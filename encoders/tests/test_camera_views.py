"""Synthetic camera views of the Kinect skeletons (issue 14): geometry a camera must obey."""

from __future__ import annotations

import numpy as np
import pytest

from encoders.data.camera_views import CameraView, ViewRanges, render_view, view_bank
from encoders.data.pose_projection import COCO17_INDEX, FOCAL_LENGTH_PX, KINECT20_INDEX, kinect20_to_coco17
from encoders.data.utd_mhad import load_skeleton
from encoders.pairs import paired_from_utd


@pytest.fixture(scope="module")
def skeleton(datasets):
    folder = datasets / "utd-mhad" if (datasets / "utd-mhad").is_dir() else datasets
    return load_skeleton(folder / "Skeleton" / "a1_s1_t1_skeleton.mat")


def _hip_centred(pose: np.ndarray) -> np.ndarray:
    xy = pose[..., :2]
    hip = 0.5 * (xy[:, COCO17_INDEX["left_hip"]] + xy[:, COCO17_INDEX["right_hip"]])
    return xy - hip.mean(axis=0)


def test_the_frontal_view_at_the_kinects_place_is_the_real_projection(skeleton) -> None:
    depth = float(skeleton[:, KINECT20_INDEX["hip_center"]].mean(axis=0)[2])
    synthetic = render_view(skeleton, CameraView(yaw_deg=0.0, height_m=0.0, distance_m=depth, focal_px=FOCAL_LENGTH_PX))
    real = kinect20_to_coco17(skeleton)
    # Same camera up to a sideways/vertical shift of a few cm at ~3 m: hip-centred keypoints agree to < 2 % of the image.
    assert np.abs(_hip_centred(synthetic) - _hip_centred(real)).max() < 0.02
    np.testing.assert_array_equal(synthetic[..., 2], real[..., 2])


def test_turning_the_person_sideways_narrows_the_shoulders(skeleton) -> None:
    ls, rs = COCO17_INDEX["left_shoulder"], COCO17_INDEX["right_shoulder"]

    def width(view: CameraView) -> float:
        xy = render_view(skeleton, view)[..., :2]
        return float(np.abs(xy[:, ls, 0] - xy[:, rs, 0]).mean())

    frontal, turned, side = width(CameraView(0.0)), width(CameraView(45.0)), width(CameraView(90.0))
    assert side < 0.25 * frontal
    assert turned == pytest.approx(frontal * np.cos(np.deg2rad(45.0)), rel=0.15)


def test_a_camera_above_sees_the_hips_at_the_image_centre_and_the_head_higher_up(skeleton) -> None:
    pose = render_view(skeleton, CameraView(height_m=1.0, distance_m=3.0))
    hip = 0.5 * (pose[:, COCO17_INDEX["left_hip"], :2] + pose[:, COCO17_INDEX["right_hip"], :2])
    assert np.abs(hip.mean(axis=0) - [0.5, 0.5]).max() < 0.03
    assert (pose[:, COCO17_INDEX["nose"], 1] < hip[:, 1]).all()  # image y grows downwards


def test_random_views_stay_in_the_image(skeleton) -> None:
    rng = np.random.default_rng(0)
    for _ in range(30):
        xy = render_view(skeleton, ViewRanges().sample(rng))[..., :2]
        assert xy.min() > 0.0 and xy.max() < 1.0


def test_the_view_bank_shares_the_training_pairs_pose_time_base(datasets, utd_clips) -> None:
    clips = paired_from_utd(utd_clips[:3])
    bank = view_bank([c.key for c in clips], [c.imu.shape[0] for c in clips], datasets, views=2, seed=0)
    for clip in clips:
        assert bank[clip.key].shape == (2,) + clip.pose.shape
    again = view_bank([c.key for c in clips], [c.imu.shape[0] for c in clips], datasets, views=2, seed=0)
    np.testing.assert_array_equal(bank[clips[0].key], again[clips[0].key])
