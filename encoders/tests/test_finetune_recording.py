"""A site's own classes from a recording: finetune (new classes, IMU-only, pose-only, from
scratch), enroll, export. Runs on a bare clone: synthetic IMU CSVs, the bundled demo
recording and the bundled model's checkpoint; no dataset needed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_import_csv import make_site  # noqa: E402 - pytest puts this folder on sys.path

from encoders.checkpoint import load_checkpoint
from encoders.cli import main
from encoders.data.import_csv import import_csv_folder
from encoders.data.paths import default_model_dir, demo_recording
from encoders.data.recording import read_recording, write_recording
from encoders.export import verify_model_dir
from encoders.splits import clips_from_recording

torch.set_num_threads(2)
DEFAULT_MODEL = default_model_dir()
QUICK = ["--steps", "12", "--batch-size", "16", "--threads", "2"]


def _needs_default_checkpoint() -> None:
    manifest = json.loads((DEFAULT_MODEL / "manifest.json").read_text())
    if "checkpoint" not in manifest:
        pytest.skip("models/default ships no checkpoint (run `python3 -m encoders train-default`)")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("site")
    labels = make_site(root / "gym", subjects=("alice", "bob"))
    import_csv_folder(root / "gym", root / "rec", labels=labels)
    held = make_site(root / "gym2", subjects=("carol",), reps=1)
    import_csv_folder(root / "gym2", root / "rec2", labels=held)
    return {"root": root, "rec": root / "rec", "rec2": root / "rec2"}


@pytest.fixture(scope="module")
def pose_only(tmp_path_factory) -> Path:
    """The first 40 s of one demo subject, camera only (UTD-MHAD classes the model knows)."""
    demo = read_recording(demo_recording())
    cam = demo.cameras[0]
    subject = demo.subjects[0].id
    keep = np.isin(cam.track, [t for t, s in cam.tracks.items() if s == subject]) & (cam.t_ns < 40e9)
    camera = type(cam)(cam.id, cam.t_ns[keep], cam.track[keep], cam.keypoints[keep], {t: s for t, s in cam.tracks.items() if s == subject}, cam.rate_hz)
    labels = [iv for iv in demo.labels if iv.subject == subject and iv.end_ns <= 40e9]
    out = tmp_path_factory.mktemp("poseonly") / "rec"
    write_recording(out, gateway="test", start_time=demo.start_time, subjects=[demo.subjects[0]], devices=[], cameras=[camera], labels=labels)
    return out


def test_recording_clips_take_new_classes_and_single_modalities(site, pose_only) -> None:
    found = clips_from_recording(site["rec"])
    assert found.class_ids == ["bench_press", "squat", "row"] and found.modalities == {"imu": 12}
    assert all(c.has_imu and not c.has_pose for c in found.clips)
    cams = clips_from_recording(pose_only)
    assert set(cams.modalities) == {"pose"} and all(c.has_pose and not c.has_imu for c in cams.clips)


def test_finetune_new_classes_imu_only_from_the_bundled_model(site, tmp_path) -> None:
    _needs_default_checkpoint()
    out = tmp_path / "ft.pt"
    assert main(["finetune", "--recording", str(site["rec"]), "--eval-recording", str(site["rec2"]), "--out", str(out), *QUICK]) == 0
    model, extra = load_checkpoint(out)
    assert [c.id for c in model.classes] == ["bench_press", "squat", "row"]
    assert "recording rec: 12 labelled intervals" in extra["training"]["data"] and "UTD-MHAD" in extra["training"]["data"]
    assert extra["training"]["classes"] == {"bench_press": 4, "squat": 4, "row": 4}
    assert extra["metrics"]["stream"]["imu"]["macroF1"] > 0.6  # clearly separable synthetic classes
    model_dir = tmp_path / "mine"
    assert main(["export", "--checkpoint", str(out), "--out", str(model_dir), "--parity", "skip"]) == 0
    manifest = verify_model_dir(model_dir)
    assert manifest["training"]["data"].startswith("recording rec")
    assert [c["id"] for c in manifest["classes"]] == ["bench_press", "squat", "row"]
    assert manifest["classes"][0]["name"] == "Bench press"
    # the exported directory can be fine-tuned again (it ships its checkpoint)
    assert main(["finetune", "--init", str(model_dir), "--recording", str(site["rec"]), "--out", str(tmp_path / "again.pt"), *QUICK]) == 0


def test_finetune_from_scratch_and_pose_only(site, pose_only, tmp_path) -> None:
    assert main(["finetune", "--from-scratch", "--recording", str(site["rec"]), "--out", str(tmp_path / "scratch.pt"), *QUICK]) == 0
    _, extra = load_checkpoint(tmp_path / "scratch.pt")
    assert extra["training"]["strategy"].startswith("from scratch") and "trained from scratch" in extra["training"]["data"]
    _needs_default_checkpoint()
    assert main(["finetune", "--recording", str(pose_only), "--out", str(tmp_path / "pose.pt"), *QUICK]) == 0
    _, extra = load_checkpoint(tmp_path / "pose.pt")
    assert "pose" in extra["training"]["data"]


def test_enroll_exports_prototypes_and_open_set(site, tmp_path) -> None:
    _needs_default_checkpoint()
    out = tmp_path / "enrolled"
    assert main(["enroll", "--recording", str(site["rec"]), "--out", str(out), "--parity", "skip"]) == 0
    manifest = verify_model_dir(out)
    assert [c["id"] for c in manifest["classes"]] == ["bench_press", "squat", "row"]
    assert set(manifest["prototypes"]["modalities"]) == {"imu"}
    assert [(c["id"], c["k"], c["modalities"]) for c in manifest["enrollment"]["classes"]] == [("bench_press", 4, ["imu"]), ("squat", 4, ["imu"]), ("row", 4, ["imu"])]
    # IMU: learnt from the examples (enough held-out windows); the modality sets the examples
    # lack keep the parent model's thresholds.
    parent = json.loads((DEFAULT_MODEL / "manifest.json").read_text())["openSet"]["thresholds"]
    thresholds = manifest["openSet"]["thresholds"]
    assert set(thresholds) == set(parent)
    assert thresholds["imu"] != parent["imu"]
    assert thresholds["pose"] == parent["pose"] and thresholds["imu+pose"] == parent["imu+pose"]
    assert manifest["checkpoint"]["format"] == "mujo-encoders-checkpoint"
