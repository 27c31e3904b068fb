from __future__ import annotations

import collections
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from encoders.data.errors import DatasetError
from encoders.data.paths import DatasetsNotConfigured, datasets_root
from encoders.data.pose_projection import COCO17_INDEX, COCO17_KEYPOINTS
from encoders.data.utd_mhad import (
    CROSS_SUBJECT_TEST,
    CROSS_SUBJECT_TRAIN,
    IMU_RATE_HZ,
    UTD_CLASSES,
    load_clip,
    load_utd_mhad,
    resample_pose,
)


@pytest.mark.full_data("UTD-MHAD's 861 clips, per subject and action")
def test_all_861_clips_with_the_three_removed_sequences_absent(utd_clips):
    assert len(utd_clips) == 861
    keys = {(c.action, c.subject, c.trial) for c in utd_clips}
    assert len(keys) == 861
    assert {(8, 1, 4), (23, 6, 4), (27, 8, 4)}.isdisjoint(keys)
    per_subject = collections.Counter(c.subject for c in utd_clips)
    assert per_subject == {1: 107, 2: 108, 3: 108, 4: 108, 5: 108, 6: 107, 7: 108, 8: 107}
    assert sum(per_subject[s] for s in CROSS_SUBJECT_TRAIN) == 431
    assert sum(per_subject[s] for s in CROSS_SUBJECT_TEST) == 430
    per_action = collections.Counter(c.action for c in utd_clips)
    assert sorted(per_action) == list(range(1, 28))
    assert per_action[8] == per_action[23] == per_action[27] == 31
    assert set(per_action.values()) == {31, 32}


def test_classes_are_27_unique_ids_in_action_order():
    assert len(UTD_CLASSES) == 27
    assert len({c.id for c in UTD_CLASSES}) == 27
    assert [c.source_label for c in UTD_CLASSES] == list(range(1, 28))
    assert UTD_CLASSES[0].id == "swipe_left" and UTD_CLASSES[26].id == "squat"
    assert all(c.description.endswith(".") and len(c.description) > 20 for c in UTD_CLASSES)


def test_shapes_dtypes_and_placement(utd_clips):
    for clip in utd_clips:
        assert clip.imu.dtype == np.float32 and clip.imu.shape[1] == 6 and clip.imu.shape[0] >= 100
        frames = clip.pose.shape[0]
        assert clip.pose.dtype == np.float32 and clip.pose.shape == (frames, 17, 3)
        assert clip.pose_times_s.dtype == np.float64 and clip.pose_times_s.shape == (frames,)
        assert clip.pose_times_s[0] == 0.0 and clip.pose_times_s[-1] < clip.duration_s
        assert np.all(np.diff(clip.pose_times_s) > 0)
        assert clip.label == clip.action - 1
        assert clip.placement == ("thigh" if clip.action >= 22 else "wrist")
    fps = [c.pose.shape[0] / c.duration_s for c in utd_clips]
    assert 10 < min(fps) and max(fps) < 25  # not the nominal 30 fps


def test_units_are_si(utd_clips, datasets: Path):
    # At the start of a clip the subject is nearly still: |acc| ≈ g in m/s².
    start_norms = [np.linalg.norm(c.imu[:5, :3], axis=1).mean() for c in utd_clips]
    assert 9.5 < float(np.median(start_norms)) < 10.6
    # Gyro range of the sensor is ±1000 deg/s = ±17.45 rad/s (saturated samples read ~1000.6).
    assert max(float(np.abs(c.imu[:, 3:]).max()) for c in utd_clips) < np.deg2rad(1001)
    assert max(float(np.abs(c.imu[:, 3:]).max()) for c in utd_clips) > np.deg2rad(500)
    raw = scipy.io.loadmat(str(datasets / "utd-mhad/Inertial/a1_s1_t1_inertial.mat"))["d_iner"]
    clip = next(c for c in utd_clips if (c.action, c.subject, c.trial) == (1, 1, 1))
    np.testing.assert_allclose(clip.imu[:, :3], raw[:, :3] * 9.80665, rtol=1e-6)
    np.testing.assert_allclose(clip.imu[:, 3:], np.deg2rad(raw[:, 3:]), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("action", [1, 2, 3, 5, 19])
def test_right_wrist_moves_most_in_right_hand_actions(utd_clips, action: int):
    clips = [c for c in utd_clips if c.action == action]
    assert len(clips) >= 4
    for clip in clips:
        path = np.abs(np.diff(clip.pose[:, :, :2], axis=0)).sum(axis=(0, 2))
        assert COCO17_KEYPOINTS[int(np.argmax(path))] == "right_wrist", clip.key
        assert path[COCO17_INDEX["right_wrist"]] > 3 * path[COCO17_INDEX["left_wrist"]], clip.key


def test_projection_is_an_unmirrored_upright_camera_view(utd_clips):
    for clip in utd_clips:
        p = clip.pose
        # Facing the camera, the person's right shoulder is on the image's left.
        assert np.all(p[:, COCO17_INDEX["right_shoulder"], 0] < p[:, COCO17_INDEX["left_shoulder"], 0])
        # y grows downwards: nose above hips above ankles (standing part of any clip).
        assert np.median(p[:, COCO17_INDEX["nose"], 1]) < np.median(p[:, COCO17_INDEX["left_hip"], 1])
    everything = np.concatenate([c.pose for c in utd_clips])
    assert 0.0 < everything[..., 0].min() and everything[..., 0].max() < 1.0
    assert set(np.unique(everything[..., 2]).tolist()) == {0.5, 1.0}
    face = [COCO17_INDEX[k] for k in ("left_eye", "right_eye", "left_ear", "right_ear")]
    assert np.all(everything[:, face, 2] == 0.5)
    assert np.all(everything[:, COCO17_INDEX["right_eye"], 0] < everything[:, COCO17_INDEX["left_eye"], 0])


def test_subject_filter(datasets: Path, utd_clips):
    clips = load_utd_mhad(datasets, subjects=[2])
    assert {c.subject for c in clips} == {2}
    assert [c.key for c in clips] == [c.key for c in utd_clips if c.subject == 2]
    own = load_utd_mhad(datasets / "utd-mhad", subjects=[1])
    assert len(own) == len(list((datasets / "utd-mhad/Inertial").glob("a*_s1_t*_inertial.mat"))) > 0


@pytest.mark.full_data("clip counts of UTD-MHAD subjects 2 and 6")
def test_subject_filter_counts(datasets: Path):
    assert len(load_utd_mhad(datasets, subjects=[2])) == 108
    assert len(load_utd_mhad(datasets / "utd-mhad", subjects=[6])) == 107


def _copy_pair(datasets: Path, target: Path, stem: str) -> None:
    for kind, folder in (("inertial", "Inertial"), ("skeleton", "Skeleton")):
        (target / folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(datasets / "utd-mhad" / folder / f"{stem}_{kind}.mat", target / folder)


def test_missing_skeleton_names_the_file(datasets: Path, tmp_path: Path):
    _copy_pair(datasets, tmp_path, "a1_s2_t1")
    (tmp_path / "Skeleton/a1_s2_t1_skeleton.mat").unlink()
    with pytest.raises(DatasetError, match=r"a1_s2_t1_skeleton\.mat: file is missing"):
        load_utd_mhad(tmp_path)


def test_corrupt_files_name_the_file(datasets: Path, tmp_path: Path):
    _copy_pair(datasets, tmp_path, "a3_s2_t2")
    assert len(load_utd_mhad(tmp_path)) == 1
    target = tmp_path / "Inertial/a3_s2_t2_inertial.mat"
    target.write_bytes(b"this is not a MAT file at all")
    with pytest.raises(DatasetError, match=r"a3_s2_t2_inertial\.mat: not a readable MATLAB file"):
        load_utd_mhad(tmp_path)
    good = (datasets / "utd-mhad/Inertial/a3_s2_t2_inertial.mat").read_bytes()
    target.write_bytes(good[: len(good) // 2])  # truncated zlib stream
    with pytest.raises(DatasetError, match=r"a3_s2_t2_inertial\.mat"):
        load_clip(tmp_path, 3, 2, 2)
    scipy.io.savemat(str(target), {"other": np.zeros((10, 6))})
    with pytest.raises(DatasetError, match=r"a3_s2_t2_inertial\.mat: has no variable 'd_iner'"):
        load_clip(tmp_path, 3, 2, 2)
    scipy.io.savemat(str(target), {"d_iner": np.zeros((10, 4))})
    with pytest.raises(DatasetError, match=r"d_iner has shape \(10, 4\)"):
        load_clip(tmp_path, 3, 2, 2)


def test_missing_dataset_folder_is_a_clear_error(tmp_path: Path):
    with pytest.raises(DatasetError, match="Inertial"):
        load_utd_mhad(tmp_path)


def test_datasets_root_follows_env(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("MUJO_DATASETS", str(tmp_path))
    assert datasets_root() == tmp_path.resolve()
    monkeypatch.delenv("MUJO_DATASETS")
    # No guess outside the repository: without the variable the user is told what to set.
    with pytest.raises(DatasetsNotConfigured, match=r"set MUJO_DATASETS .* or pass --datasets DIR"):
        datasets_root()
    with pytest.raises(DatasetError, match="MUJO_DATASETS"):
        load_utd_mhad()


def test_resample_pose_interpolates_linearly_and_holds_edges():
    times = np.array([0.1, 0.3, 0.6])
    pose = np.zeros((3, 17, 3), dtype=np.float32)
    pose[:, :, 0] = np.array([1.0, 3.0, 6.0])[:, None]  # x = 10 t, so linear in time
    out = resample_pose(pose, times, rate_hz=20.0, duration_s=0.72)
    assert out.shape == (14, 17, 3) and out.dtype == np.float32  # floor(0.72 * 20) = 14
    expected = np.clip(np.arange(14) / 20.0, 0.1, 0.6) * 10.0
    np.testing.assert_allclose(out[:, 5, 0], expected, rtol=1e-6)
    assert resample_pose(pose, times, 20.0, 1.0).shape[0] == 20


def test_resample_real_clip_keeps_its_motion(utd_clips):
    clip = next(c for c in utd_clips if (c.action, c.subject, c.trial) == (3, 2, 1))
    out = resample_pose(clip.pose, clip.pose_times_s, 20.0, clip.duration_s)
    assert out.shape[0] == int(clip.duration_s * 20)
    # Resampling a sequence at a similar rate must keep its range of motion.
    rw = COCO17_INDEX["right_wrist"]
    assert np.ptp(out[:, rw, 0]) == pytest.approx(np.ptp(clip.pose[:, rw, 0]), rel=0.1)
    assert IMU_RATE_HZ == 50.0
