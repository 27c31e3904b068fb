"""Export: ONNX per encoder, manifest valid against the shared schema, hashes, parity."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from encoders import export as export_mod
from encoders.experiments import parity_windows
from encoders.export import ExportError, ManifestError, export_model, node_available, run_ort_parity, validate_manifest, verify_model_dir
from encoders.pairs import paired_from_utd
from encoders.splits import utd_classes
from encoders.train import build_model

torch.set_num_threads(2)

TRAINING = {"data": "UTD-MHAD slice", "split": "test only", "command": "pytest", "seed": 0, "metrics": {}}
needs_node = pytest.mark.skipif(node_available() is None, reason="node or node_modules/onnxruntime-node missing: cannot run onnxruntime-node parity")


@pytest.fixture(scope="module")
def real_windows(datasets):
    from encoders.data.utd_mhad import load_utd_mhad

    clips = paired_from_utd(load_utd_mhad(datasets, subjects=[2]))
    return clips, parity_windows(clips)


@pytest.fixture(scope="module")
def model(real_windows):
    clips, _ = real_windows
    torch.manual_seed(0)
    m = build_model(utd_classes(), clips)
    # A few batch-norm statistics from real data so the graph is not trivially at its init.
    m.train()
    with torch.no_grad():
        _, (imu, pose) = real_windows
        m.imu(torch.from_numpy(imu))
        m.pose(torch.from_numpy(pose))
    return m.eval()


@pytest.fixture(scope="module")
def exported(tmp_path_factory, model, real_windows):
    out = tmp_path_factory.mktemp("models") / "unit"
    _, (imu, pose) = real_windows
    manifest = export_model(model, out, name="unit", version="0.0.1", imu_windows=imu, pose_windows=pose, training=TRAINING, parity="skip")
    return out, manifest


def test_export_writes_a_model_directory_the_schema_accepts(exported) -> None:
    out, manifest = exported
    assert sorted(p.name for p in out.iterdir()) == ["imu.onnx", "manifest.json", "pose.onnx", "prototypes.f32", "test-vectors.json"]
    assert verify_model_dir(out)["name"] == "unit"
    enc = {e["name"]: e for e in manifest["encoders"]}
    assert enc["imu"]["input"]["shape"] == ["batch", 6, 100] and enc["imu"]["sampleRateHz"] == 50 and enc["imu"]["hopSamples"] == 25
    assert enc["pose"]["input"]["shape"] == ["batch", 40, 17, 3] and enc["pose"]["sampleRateHz"] == 20 and enc["pose"]["hopSamples"] == 10
    assert manifest["prototypes"]["shape"] == [27, 64] and (out / "prototypes.f32").stat().st_size == 27 * 64 * 4
    assert [c["id"] for c in manifest["classes"]][:2] == ["swipe_left", "swipe_right"]


def test_onnx_files_have_opset_17_and_a_dynamic_batch_axis(exported) -> None:
    import onnx

    out, _ = exported
    for name in ("imu", "pose"):
        graph = onnx.load(str(out / f"{name}.onnx"))
        assert max(o.version for o in graph.opset_import if o.domain in ("", "ai.onnx")) <= 17
        assert graph.graph.input[0].name == name
        assert graph.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"


def test_test_vectors_hold_real_windows_and_torch_outputs(exported, model) -> None:
    out, _ = exported
    vectors = json.loads((out / "test-vectors.json").read_text())
    assert vectors["tolerance"] == 1e-4
    imu = np.asarray(vectors["encoders"]["imu"]["input"], dtype=np.float32).reshape(vectors["encoders"]["imu"]["inputShape"])
    # Real wrist data: gravity shows up in the accelerometer (~9.8 m/s² magnitude).
    assert 5 < np.linalg.norm(imu[:, 0:3, :], axis=1).mean() < 15
    with torch.no_grad():
        expected = model.imu(torch.from_numpy(imu)).numpy().ravel()
    assert np.allclose(vectors["encoders"]["imu"]["output"], expected, atol=1e-6)
    probabilities = [c["probabilities"] for c in vectors["fusion"]["cases"]]
    assert len(probabilities) == 4 and all(abs(sum(p) - 1) < 1e-6 for p in probabilities)


def test_a_file_whose_hash_does_not_match_is_refused(exported, tmp_path) -> None:
    out, _ = exported
    copy = tmp_path / "tampered"
    shutil.copytree(out, copy)
    data = bytearray((copy / "prototypes.f32").read_bytes())
    data[0] ^= 0x01
    (copy / "prototypes.f32").write_bytes(bytes(data))
    with pytest.raises(ManifestError, match=r"prototypes.f32: sha256 mismatch for prototypes"):
        verify_model_dir(copy)
    (copy / "pose.onnx").unlink()
    shutil.copy(out / "prototypes.f32", copy / "prototypes.f32")
    with pytest.raises(ManifestError, match=r"pose.onnx: encoder pose file named in .* is missing"):
        verify_model_dir(copy)


def test_manifest_that_breaks_the_schema_is_refused(exported) -> None:
    _, manifest = exported
    broken = json.loads(json.dumps(manifest))
    broken["encoders"][0]["input"]["shape"][0] = 4
    del broken["temperature"]
    with pytest.raises(ManifestError) as err:
        validate_manifest(broken)
    assert "'temperature' is a required property" in str(err.value) and "encoders/0/input/shape/0" in str(err.value)


@needs_node
def test_onnxruntime_node_reproduces_torch(exported) -> None:
    out, _ = exported
    report = run_ort_parity(out)
    assert report["ok"] and max(report["encoders"].values()) <= 1e-4 and report["fusion"] <= 1e-4


@needs_node
def test_export_refuses_when_torch_and_onnx_disagree(model, real_windows, tmp_path, monkeypatch) -> None:
    _, (imu, pose) = real_windows
    real_cases = export_mod._fusion_cases

    def skewed(*args, **kwargs):
        cases = real_cases(*args, **kwargs)
        cases[0]["probabilities"][0] += 0.01  # what a graph that computes something else would give
        return cases

    monkeypatch.setattr(export_mod, "_fusion_cases", skewed)
    target = tmp_path / "refused"
    with pytest.raises(ExportError, match="disagree beyond 0.0001.*export refused"):
        export_model(model, target, name="refused", version="0", imu_windows=imu, pose_windows=pose, training=TRAINING, parity="require")
    assert not target.exists() and not any(tmp_path.glob(".refused.staging-*"))


def test_opset_above_17_is_refused(model, real_windows, tmp_path) -> None:
    _, (imu, pose) = real_windows
    with pytest.raises(ExportError, match="opset 18 > 17"):
        export_model(model, tmp_path / "m", name="m", version="0", imu_windows=imu, pose_windows=pose, training=TRAINING, opset=18)
