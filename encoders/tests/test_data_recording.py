from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from encoders.cli import data as data_cli
from encoders.data.errors import DatasetError
from encoders.data.make_recording import make_recording
from encoders.data.recording import (
    IMU_COLUMNS,
    POSE_COLUMNS,
    ImuStream,
    LabelInterval,
    PoseStream,
    Subject,
    activity_at,
    read_recording,
    write_recording,
)
from encoders.data.utd_mhad import IMU_RATE_HZ, UTD_CLASSES


def _small_recording(directory: Path) -> Path:
    rng = np.random.default_rng(7)
    t_imu = np.arange(120, dtype=np.int64) * 20_000_000
    imu = rng.normal(size=(120, 6)) * [3, 3, 3, 1, 1, 1] + [0, 0, 9.80665, 0, 0, 0]
    t_pose = np.repeat(np.round(np.arange(40) * 0.06e9).astype(np.int64), 2)
    track = np.tile([1, 2], 40)
    kp = rng.uniform(size=(80, 17, 3)).astype(np.float32)
    return write_recording(
        directory,
        gateway="test",
        start_time="2026-01-01T00:00:00.000Z",
        subjects=[Subject("alice", "Alice"), Subject("bob")],
        devices=[ImuStream("w1", t_imu, imu, subject="alice", placement="wrist", placement_note="left wrist")],
        cameras=[PoseStream("cam1", t_pose, track, kp, tracks={1: "alice", 2: "bob"}, rate_hz=16.7)],
        labels=[LabelInterval("alice", 0, 1_000_000_000, "wave"), LabelInterval("bob", 500_000_000, 2_000_000_000, "clap")],
        source={"why": "test"},
    )


def test_round_trip_keeps_values_to_the_written_precision(tmp_path: Path):
    _small_recording(tmp_path)
    rec = read_recording(tmp_path)
    assert rec.gateway == "test" and [s.id for s in rec.subjects] == ["alice", "bob"]
    (dev,) = rec.devices
    assert dev.id == "w1" and dev.placement == "wrist" and dev.placement_note == "left wrist" and dev.file == "imu/w1.csv"
    assert dev.t_ns.dtype == np.int64 and dev.t_ns[-1] == 119 * 20_000_000
    assert dev.array.shape == (120, 7)
    rng = np.random.default_rng(7)
    original = rng.normal(size=(120, 6)) * [3, 3, 3, 1, 1, 1] + [0, 0, 9.80665, 0, 0, 0]
    np.testing.assert_allclose(dev.values[:, :3], original[:, :3], atol=0.5e-3 + 1e-12)
    np.testing.assert_allclose(dev.values[:, 3:], original[:, 3:], atol=0.5e-4 + 1e-12)
    (cam,) = rec.cameras
    assert cam.tracks == {1: "alice", 2: "bob"} and cam.rate_hz == 16.7
    assert cam.keypoints.shape == (80, 17, 3) and cam.keypoints.dtype == np.float32
    t_bob, kp_bob = cam.for_subject("bob")
    assert t_bob.shape == (40,) and kp_bob.shape == (40, 17, 3)
    assert rec.labels[1] == LabelInterval("bob", 500_000_000, 2_000_000_000, "clap")
    assert activity_at(rec.labels, "alice", 999_999_999) == "wave"
    assert activity_at(rec.labels, "alice", 1_000_000_000) is None  # half-open
    # A second write of what was read gives the same bytes.
    again = write_recording(
        tmp_path / "again", gateway=rec.gateway, start_time=rec.start_time, subjects=rec.subjects,
        devices=rec.devices, cameras=rec.cameras, labels=rec.labels, source=rec.source,
    )
    for name in ("imu/w1.csv", "pose/cam1.csv", "labels.csv", "recording.json"):
        assert (again / name).read_bytes() == (tmp_path / name).read_bytes(), name


def test_headers_follow_the_documented_format(tmp_path: Path):
    _small_recording(tmp_path)
    assert (tmp_path / "imu/w1.csv").read_text().splitlines()[0] == "t_ns,ax,ay,az,gx,gy,gz"
    header = (tmp_path / "pose/cam1.csv").read_text().splitlines()[0].split(",")
    assert header[:5] == ["t_ns", "track", "nose_x", "nose_y", "nose_score"]
    assert header[-3:] == ["right_ankle_x", "right_ankle_y", "right_ankle_score"] and len(header) == 53
    assert tuple(header) == POSE_COLUMNS and IMU_COLUMNS[0] == "t_ns"
    meta = json.loads((tmp_path / "recording.json").read_text())
    assert meta["format"] == "mujo-recording" and meta["formatVersion"] == 1
    assert meta["devices"][0]["units"] == {"acc": "m/s^2", "gyro": "rad/s"}
    assert meta["cameras"][0]["tracks"] == {"1": "alice", "2": "bob"}
    assert "-0.000" not in (tmp_path / "imu/w1.csv").read_text()


def _edit(path: Path, line: int, new: str) -> None:
    lines = path.read_text().splitlines()
    lines[line - 1] = new
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("file", "line", "content", "message"),
    [
        ("imu/w1.csv", 1, "t,ax,ay,az,gx,gy,gz", r"w1\.csv: line 1: header"),
        ("imu/w1.csv", 5, "80000000,1,2,3", r"w1\.csv: line 5: 4 columns, expected 7"),
        ("imu/w1.csv", 6, "100000000,1,2,x,4,5,6", r"w1\.csv: line 6, column 4: 'x' is not a number"),
        ("imu/w1.csv", 7, "1.5,1,2,3,4,5,6", r"w1\.csv: line 7, column 1: '1.5' is not an integer"),
        ("imu/w1.csv", 8, "0,1,2,3,4,5,6", r"w1\.csv: line 8: t_ns goes backwards"),
        ("imu/w1.csv", 9, "160000000,1,2,nan,4,5,6", r"w1\.csv: line 9, column 4: value is not finite"),
        ("pose/cam1.csv", 3, "0,1,0.5", r"cam1\.csv: line 3: 3 columns, expected 53"),
        ("labels.csv", 2, "alice,10,5,wave", r"labels\.csv: line 2: end_ns 5 is not after start_ns 10"),
        ("labels.csv", 3, "carol,0,5,wave", r"labels\.csv: line 3: subject 'carol' is not in recording\.json"),
    ],
)
def test_bad_rows_name_the_file_and_line(tmp_path: Path, file: str, line: int, content: str, message: str):
    _small_recording(tmp_path)
    _edit(tmp_path / file, line, content)
    with pytest.raises(DatasetError, match=message):
        read_recording(tmp_path)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda m: m.update(formatVersion=2), r"recording\.json: RECORDING_SCHEMA_INVALID: .*formatVersion: 1 was expected \(got 2\)"),
        (lambda m: m.update(format="other"), r"format: 'mujo-recording' was expected \(got 'other'\)"),
        (lambda m: m["devices"][0].update(placement="nose"), r"devices\[0\]\.placement: 'nose' is not one of \['wrist', 'thigh'"),
        (lambda m: m["devices"][0].update(file="../escape.csv"), r"must be a relative path inside"),
        (lambda m: m["devices"][0].pop("rateHz"), r"devices\[0\]: 'rateHz' is a required property"),
        (lambda m: m["devices"][0].update(units={"acc": "g", "gyro": "deg/s"}), r"devices\[0\]\.units\.acc: 'm/s\^2' was expected \(got 'g'\).*devices\[0\]\.units\.gyro"),
        (lambda m: m["cameras"][0].update(tracks={"1": "zed"}), r"cameras\[0\]: track 1 maps to unknown subject 'zed'"),
        (lambda m: m["devices"][0].update(file="imu/none.csv"), r"none\.csv: file is missing"),
    ],
)
def test_bad_metadata_names_the_file_and_key(tmp_path: Path, mutate, message: str):
    _small_recording(tmp_path)
    meta_path = tmp_path / "recording.json"
    meta = json.loads(meta_path.read_text())
    mutate(meta)
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(DatasetError, match=message):
        read_recording(tmp_path)


def test_schema_errors_are_coded_and_list_every_field(tmp_path: Path):
    from encoders.data.recording import RecordingSchemaError

    _small_recording(tmp_path)
    meta_path = tmp_path / "recording.json"
    meta = json.loads(meta_path.read_text())
    meta["devices"][0]["rateHz"] = "fast"
    meta["cameras"][0]["tracks"] = {"one": "alice"}
    del meta["subjects"]
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(RecordingSchemaError) as caught:
        read_recording(tmp_path)
    err = caught.value
    assert err.code == "RECORDING_SCHEMA_INVALID" and err.path == meta_path
    assert "config/schemas/recording.schema.json" in str(err)
    assert any(p.startswith("(root): 'subjects' is a required property") for p in err.problems), err.problems
    assert any(p.startswith("devices[0].rateHz: 'fast' is not of type 'number'") for p in err.problems), err.problems
    assert any(p.startswith("cameras[0].tracks: 'one' does not match") for p in err.problems), err.problems


def test_every_recording_in_the_repository_matches_the_schema():
    from encoders.data.paths import repo_root
    from encoders.data.recording import PLACEMENTS, RECORDING_SCHEMA, recording_schema_problems

    for path in (repo_root() / "recordings/demo/recording.json", repo_root() / "test/fixtures/recording-small/recording.json"):
        assert recording_schema_problems(json.loads(path.read_text(encoding="utf-8"))) == [], path
    # The trainer's placement list is the schema's.
    assert PLACEMENTS == frozenset(RECORDING_SCHEMA["$defs"]["placement"]["enum"]) and "wrist" in PLACEMENTS


def test_not_a_recording(tmp_path: Path):
    with pytest.raises(DatasetError, match=r"recording\.json: file is missing"):
        read_recording(tmp_path)
    (tmp_path / "recording.json").write_text("{nope")
    with pytest.raises(DatasetError, match=r"recording\.json: is not valid JSON"):
        read_recording(tmp_path)


def _run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    data_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_make_recording_is_deterministic(tmp_path: Path, monkeypatch, datasets: Path):
    outputs = []
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        monkeypatch.chdir(tmp_path / run)
        assert _run_cli(["make-recording", "--out", "demo", "--subjects", "2", "--datasets", str(datasets)]) == 0
        outputs.append(tmp_path / run / "demo")
    files = sorted(p.relative_to(outputs[0]) for p in outputs[0].rglob("*") if p.is_file())
    assert [str(f) for f in files] == ["imu/imu-s2.csv", "labels.csv", "pose/cam1.csv", "recording.json"]
    for f in files:
        assert (outputs[0] / f).read_bytes() == (outputs[1] / f).read_bytes(), f
    different_seed = make_recording(tmp_path / "seed1", subjects=[2], seed=1, datasets=datasets)
    assert (different_seed / "labels.csv").read_bytes() != (outputs[0] / "labels.csv").read_bytes()


def test_made_recording_matches_its_source_clips(tmp_path: Path, datasets: Path, utd_clips):
    rec = read_recording(make_recording(tmp_path / "r", subjects=[1, 2], seed=3, datasets=datasets))
    assert [s.id for s in rec.subjects] == ["s1", "s2"]
    assert [d.id for d in rec.devices] == ["imu-s1", "imu-s2"]
    assert rec.devices[0].placement == "wrist" and "thigh" in (rec.devices[0].placement_note or "")
    (cam,) = rec.cameras
    assert cam.tracks == {1: "s1", 2: "s2"}
    assert np.all(np.diff(cam.t_ns) >= 0)
    by_key = {c.key: c for c in utd_clips}
    assert rec.source is not None, "make-recording records its source clips"
    for subject, number in (("s1", 1), ("s2", 2)):
        labels = rec.labels_for(subject)
        assert len(labels) == sum(1 for c in utd_clips if c.subject == number) >= 5
        clips = [by_key[k] for k in rec.source["clips"][subject]]
        assert [UTD_CLASSES[c.label].id for c in clips] == [iv.activity for iv in labels]
        assert all(a.end_ns == b.start_ns for a, b in itertools.pairwise(labels))  # back-to-back
        device = rec.device(f"imu-{subject}")
        assert device.t_ns.shape[0] == sum(c.imu.shape[0] for c in clips)
        assert labels[-1].end_ns == device.t_ns[-1] + 1e9 / IMU_RATE_HZ
        # The IMU of the 5th clip sits exactly inside its label interval.
        fifth = labels[4]
        inside = (device.t_ns >= fifth.start_ns) & (device.t_ns < fifth.end_ns)
        np.testing.assert_allclose(device.values[inside], clips[4].imu, atol=6e-4)
        # Pose keeps the clip's own (11-21 fps) frame times.
        t_pose, kp = cam.for_subject(subject)
        inside = (t_pose >= fifth.start_ns) & (t_pose < fifth.end_ns)
        np.testing.assert_allclose(t_pose[inside] - fifth.start_ns, clips[4].pose_times_s * 1e9, atol=1)
        np.testing.assert_allclose(kp[inside], clips[4].pose, atol=6e-4)


def _demo() -> Path:
    from encoders.data.paths import repo_root

    return repo_root() / "recordings" / "demo"


def test_bundled_demo_recording_reads() -> None:
    rec = read_recording(_demo())
    assert [d.id for d in rec.devices] == ["imu-s2", "imu-s4", "imu-s6", "imu-s8"]
    assert len(rec.labels) == 430
    assert rec.source is not None and rec.source["command"] == "python3 -m encoders make-recording --out recordings/demo --seed 0"


@pytest.mark.full_data("rebuilds recordings/demo from UTD-MHAD subjects 2, 4, 6, 8")
def test_bundled_demo_recording_is_current(datasets: Path, tmp_path: Path):
    demo = _demo()
    rebuilt = make_recording(tmp_path / "demo", datasets=datasets, command_out="recordings/demo")
    names = sorted(str(p.relative_to(demo)) for p in demo.rglob("*") if p.is_file())
    assert names == sorted(str(p.relative_to(rebuilt)) for p in rebuilt.rglob("*") if p.is_file())
    for name in names:
        assert (rebuilt / name).read_bytes() == (demo / name).read_bytes(), f"{name} is stale: rerun make-recording"


def test_prepare_prints_counts_and_writes_a_cache(tmp_path: Path, datasets: Path, utd_clips, capsys):
    cache = tmp_path / "utd.npz"
    assert _run_cli(["prepare", "--datasets", str(datasets), "--cache", str(cache)]) == 0
    out = capsys.readouterr().out
    samples = sum(c.imu.shape[0] for c in utd_clips)
    assert f"utd-mhad: {len(utd_clips)} clips (" in out and f"27 classes, {samples} IMU samples" in out
    assert "sp-sw-har: " in out and " raw samples" in out and "mmfit-labels: " in out and "error" not in out
    with np.load(cache) as data:
        assert data["keys"].shape == (len(utd_clips), 3) and data["imu"].shape == (samples, 6)
        assert data["pose"].shape[1:] == (17, 3) and data["pose_lengths"].sum() == data["pose"].shape[0]


@pytest.mark.full_data("prepare's counts of all three data sets")
def test_prepare_counts_on_the_full_data(datasets: Path, capsys):
    assert _run_cli(["prepare", "--datasets", str(datasets)]) == 0
    out = capsys.readouterr().out
    assert "utd-mhad: 861 clips (431 train / 430 test), 27 classes, 155638 IMU samples" in out
    assert "sp-sw-har: 223 sequences, 23 subjects, 521766 raw samples" in out
    assert "mmfit-labels: 616 exercise sets in 21 workouts" in out


def test_prepare_fails_clearly_without_data(tmp_path: Path, capsys):
    assert _run_cli(["prepare", "--datasets", str(tmp_path)]) == 1
    assert "Inertial" in capsys.readouterr().err
