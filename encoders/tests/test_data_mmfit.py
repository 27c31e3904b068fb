from __future__ import annotations

import collections
import itertools
import shutil
from pathlib import Path

import numpy as np
import pytest

from encoders.data.errors import DatasetError
from encoders.data.mmfit import (
    MMFIT_CLASSES,
    MMFIT_SPLIT,
    NON_ACTIVITY,
    frame_labels,
    load_mmfit_labels,
    load_mmfit_workout,
    mmfit_windows,
    read_labels_csv,
    split_of,
)


@pytest.fixture(scope="module")
def label_sets(datasets: Path):
    return load_mmfit_labels(datasets / "mmfit-labels")


def test_real_labels_parse_into_valid_sets(label_sets):
    assert label_sets and all(w in range(21) for w in label_sets)
    sets = [s for v in label_sets.values() for s in v]
    assert {s.exercise for s in sets} <= set(MMFIT_CLASSES[:-1])
    assert all(s.end_frame > s.start_frame and s.repetitions > 0 for s in sets)
    for workout in label_sets.values():
        assert all(a.end_frame <= b.start_frame for a, b in itertools.pairwise(workout))  # in order, no overlap


@pytest.mark.full_data("MM-Fit's 616 labelled sets in 21 workouts")
def test_real_labels_616_sets(label_sets):
    assert sorted(label_sets) == list(range(21))
    sets = [s for v in label_sets.values() for s in v]
    assert len(sets) == 616
    per_class = collections.Counter(s.exercise for s in sets)
    assert set(per_class) == set(MMFIT_CLASSES[:-1]) and min(per_class.values()) == 56 and max(per_class.values()) == 65
    assert np.median([s.repetitions for s in sets]) == 10
    assert all(s.end_frame > s.start_frame for s in sets)


def test_official_split_covers_every_workout_once():
    all_ids = [w for ws in MMFIT_SPLIT.values() for w in ws]
    assert sorted(all_ids) == list(range(21))
    assert split_of(9) == "test" and split_of(14) == "val" and split_of(0) == "unseen" and split_of(16) == "train"
    assert len(MMFIT_CLASSES) == 11 and MMFIT_CLASSES[NON_ACTIVITY] == "non_activity"


def test_label_errors_name_the_file_and_line(tmp_path: Path):
    path = tmp_path / "w99_labels.csv"
    path.write_text("100,200,10,squats\n300,250,10,lunges\n")
    with pytest.raises(DatasetError, match=r"w99_labels\.csv: line 2: end_frame 250"):
        read_labels_csv(path)
    path.write_text("100,200,10,yoga\n")
    with pytest.raises(DatasetError, match=r"w99_labels\.csv: line 1: unknown exercise 'yoga'"):
        read_labels_csv(path)


def _generated_workout(root: Path, datasets: Path, workout: int = 9) -> tuple[np.ndarray, float]:
    """A workout folder with real labels and generated arrays of the documented shapes."""
    folder = root / f"w{workout:02d}"
    folder.mkdir(parents=True)
    shutil.copy(datasets / "mmfit-labels" / f"w{workout:02d}" / f"w{workout:02d}_labels.csv", folder)
    sets = read_labels_csv(folder / f"w{workout:02d}_labels.csv")
    first_frame, frames = sets[0].start_frame - 400, 1200
    frame_numbers = np.arange(first_frame, first_frame + frames, dtype=np.float64)
    pose = np.zeros((2, frames, 18))
    pose[:, :, 0] = frame_numbers
    pose[0, :, 1:] = frame_numbers[:, None]  # x of every keypoint = frame number
    pose[1, :, 1:] = 2.0
    np.save(folder / f"w{workout:02d}_pose_2d.npy", pose)
    t0_ms = 1.56e12
    rng = np.random.default_rng(0)
    for name, rate in (("sw_l_acc", 100.0), ("sw_l_gyr", 97.0)):
        t_ms = t0_ms + np.cumsum(rng.uniform(0.8, 1.2, size=int(frames / 30 * rate) + 50)) * 1000 / rate - 300
        frame = first_frame + (t_ms - t0_ms) / 1000 * 30
        data = np.column_stack([np.floor(frame), t_ms, (t_ms - t0_ms) / 1000, np.zeros_like(t_ms), np.ones_like(t_ms) * 9.81])
        np.save(folder / f"w{workout:02d}_{name}.npy", data[data[:, 0] >= first_frame - 30])
    return frame_numbers, t0_ms


def test_windows_from_generated_arrays(datasets: Path, tmp_path: Path):
    frame_numbers, _ = _generated_workout(tmp_path, datasets)
    workout = load_mmfit_workout(tmp_path, 9)
    assert workout.pose_2d is not None and workout.pose_2d.shape == (2, 1200, 18) and workout.sensors["sw_l_acc"].shape[1] == 5
    result = mmfit_windows(workout)
    w = result.imu
    assert result.pose is not None, "the workout has 2D pose, so its windows must too"
    assert w.x.shape[1:] == (250, 6) and result.pose.shape[1:] == (150, 17, 2)
    assert len(w) + result.dropped == len(range(0, 1200 - 150 + 1, 6))
    assert len(w) > 150 and result.dropped < 10
    # Pose windows start every 6 frames (0.2 s) and hold 150 frames (5 s).
    np.testing.assert_allclose(np.diff(result.pose[:, 0, 0, 0]), 6)
    np.testing.assert_allclose(result.pose[:, -1, 0, 0] - result.pose[:, 0, 0, 0], 149)
    # Sensor windows: 250 samples at 50 Hz; the synthetic x channel is time, so it steps 0.02 s.
    np.testing.assert_allclose(np.diff(w.x[:, :, 0], axis=1), 0.02, atol=2e-5)  # float32 of ~40 s
    np.testing.assert_allclose(w.x[:, :, 2], 9.81, atol=1e-6)
    # Labels by the starter-code rule on the window's centre frame, with real set boundaries.
    centre = result.pose[:, 0, 0, 0] + 75
    assert w.y.tolist() == frame_labels(workout.sets, centre).tolist()
    assert {MMFIT_CLASSES[NON_ACTIVITY], workout.sets[0].exercise} <= {MMFIT_CLASSES[i] for i in w.y}
    assert set(result.repetitions[w.y == workout.sets[0].label].tolist()) == {workout.sets[0].repetitions}


def test_bad_arrays_name_the_file(datasets: Path, tmp_path: Path):
    _generated_workout(tmp_path, datasets)
    np.save(tmp_path / "w09" / "w09_sw_l_gyr.npy", np.zeros((10, 4)))
    with pytest.raises(DatasetError, match=r"w09_sw_l_gyr\.npy: sensor array"):
        load_mmfit_workout(tmp_path, 9)
    (tmp_path / "w09" / "w09_pose_2d.npy").write_bytes(b"garbage")
    with pytest.raises(DatasetError, match=r"w09_pose_2d\.npy: not a readable \.npy array"):
        load_mmfit_workout(tmp_path, 9, sensors=())
