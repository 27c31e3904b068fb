from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from encoders.data.make_recording import make_recording
from encoders.data.recording import ImuStream, LabelInterval, PoseStream, Subject, read_recording, write_recording
from encoders.data.utd_mhad import UTD_CLASSES
from encoders.data.windows import (
    WindowSpec,
    centre_labels,
    collapse_duplicate_times,
    sliding_windows,
    stream_windows,
    windows_on_grid,
)

S = 1_000_000_000


def test_window_spec_checks_whole_samples():
    spec = WindowSpec(length_s=2.0, hop_s=0.5, rate_hz=20.0)
    assert (spec.length, spec.hop, spec.length_ns, spec.hop_ns) == (40, 10, 2 * S, S // 2)
    with pytest.raises(ValueError, match="whole number of samples"):
        WindowSpec(length_s=1.03, hop_s=0.5, rate_hz=20.0)


def test_windows_end_on_the_hop_grid_and_hold_the_resampled_signal():
    # A ramp sampled irregularly (jittered ~15 fps) must come out as the same ramp at 20 Hz.
    rng = np.random.default_rng(1)
    t_s = np.cumsum(rng.uniform(0.05, 0.08, size=200)) + 0.3
    t_ns = np.round(t_s * S).astype(np.int64)
    values = np.stack([t_s, -2 * t_s], axis=1)
    spec = WindowSpec(length_s=2.0, hop_s=0.5, rate_hz=20.0)
    end_ns, windows = windows_on_grid(t_ns, values, spec)
    assert windows.shape[1:] == (40, 2) and end_ns.shape[0] == windows.shape[0] > 10
    assert np.all(end_ns % (S // 2) == 0) and np.all(np.diff(end_ns) == S // 2)
    assert end_ns[0] - 2 * S >= t_ns[0] and end_ns[-1] <= t_ns[-1] + S // 20
    expected = (end_ns[:, None] - 2 * S + np.arange(40)[None, :] * (S // 20)) / S
    np.testing.assert_allclose(windows[:, :, 0], expected, atol=1e-5)
    np.testing.assert_allclose(windows[:, :, 1], -2 * expected, atol=2e-5)


def test_no_window_across_a_silent_gap():
    t_ns = np.concatenate([np.arange(0, 5 * S, S // 50), np.arange(8 * S, 12 * S, S // 50)])
    end_ns, _ = windows_on_grid(t_ns, np.ones((t_ns.shape[0], 6)), WindowSpec(2.0, 0.5, 50.0))
    for end in end_ns:
        assert end <= 5 * S or end - 2 * S >= 8 * S


def test_sliding_windows_and_centre_labels():
    values = np.arange(10)
    assert sliding_windows(values, 4, 3).tolist() == [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]]
    assert centre_labels(np.array(list("aaaabbbbcc")), 4, 3).tolist() == ["a", "b", "c"]  # centres 2, 5, 8
    assert sliding_windows(values, 11, 1).shape == (0, 11)


def test_duplicate_timestamps_are_averaged():
    t, v, first = collapse_duplicate_times(np.array([0, 10, 10, 20]), np.array([[1.0], [2.0], [4.0], [5.0]]))
    assert t.tolist() == [0, 10, 20] and v[:, 0].tolist() == [1.0, 3.0, 5.0] and first.tolist() == [0, 1, 3]


def test_imu_and_pose_windows_pair_by_end_time_with_centre_labels(tmp_path: Path):
    t_imu = np.arange(0, 10 * S, S // 50)
    t_pose = np.round(np.arange(0, 10, 1 / 15) * S).astype(np.int64)
    rec_dir = write_recording(
        tmp_path,
        gateway="t",
        start_time="2026-01-01T00:00:00.000Z",
        subjects=[Subject("a"), Subject("b")],
        devices=[ImuStream("imu-a", t_imu, np.ones((t_imu.shape[0], 6)), subject="a", placement="wrist")],
        cameras=[PoseStream("cam", t_pose, np.full(t_pose.shape[0], 7), np.full((t_pose.shape[0], 17, 3), 0.5, dtype=np.float32), tracks={7: "a"})],
        labels=[LabelInterval("a", 0, 4 * S, "wave"), LabelInterval("a", 6 * S, 10 * S, "clap")],
    )
    (subject,) = stream_windows(read_recording(rec_dir), WindowSpec(2.0, 0.5, 50.0), WindowSpec(2.0, 0.5, 20.0))
    assert subject.subject == "a" and subject.modality == {"imu-a": "imu", "cam": "pose"}
    assert subject.data["imu-a"].shape[1:] == (100, 6) and subject.data["cam"].shape[1:] == (40, 17, 3)
    both = subject.present["imu-a"] & subject.present["cam"]
    assert both.sum() >= 14
    centres = (subject.end_ns - S) / S
    expected = ["wave" if c < 4 else "clap" if c >= 6 else None for c in centres]
    assert subject.labels == expected == subject.pose_labels


def test_stream_windows_on_a_made_recording(tmp_path: Path, datasets: Path):
    rec = read_recording(make_recording(tmp_path / "r", subjects=[2], datasets=datasets))
    (subject,) = stream_windows(rec, WindowSpec(2.0, 0.5, 50.0), WindowSpec(2.0, 0.5, 20.0))
    imu, pose = subject.present["imu-s2"], subject.present["cam1"]
    # Back-to-back clips: nearly every hop of the subject's timeline has an IMU window.
    span_s = (rec.device("imu-s2").t_ns[-1] - rec.device("imu-s2").t_ns[0]) / S
    assert imu.sum() > 0.95 * (span_s - 2.0) / 0.5 and np.mean(imu & pose) > 0.97
    assert all(label in {c.id for c in UTD_CLASSES} for label in subject.labels)
    assert len(set(subject.labels)) == 27
    # Gravity survives resampling: |acc| ≈ 9.8 m/s² on average in the wrist/thigh IMU.
    acc = subject.data["imu-s2"][imu][..., :3]
    assert 9.0 < float(np.linalg.norm(acc, axis=-1).mean()) < 12.5
