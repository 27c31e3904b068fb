"""Pose geometry channels (bone directions/lengths, joint angles) inside the pose graph."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from encoders.data.pose_projection import COCO17_INDEX
from encoders.export import node_available
from encoders.models.pose import ANGLES, BONES, GEOMETRY_CHANNELS, PoseEncoder, geometry_features, normalise_pose

needs_node = pytest.mark.skipif(node_available() is None, reason="node or node_modules/onnxruntime-node missing: cannot run onnxruntime-node parity")


def _pose(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    pose = torch.rand(2, 40, 17, 3, generator=g) * 0.3 + 0.35
    pose[..., 2] = 1.0
    return pose


def test_geometry_does_not_change_with_the_persons_place_or_size_in_the_image() -> None:
    pose = _pose()
    moved = pose.clone()
    moved[..., 0:2] = (pose[..., 0:2] - 0.5) * 0.6 + torch.tensor([0.3, 0.6])
    a = geometry_features(normalise_pose(pose)[..., 0:2])
    b = geometry_features(normalise_pose(moved)[..., 0:2])
    assert a.shape == (2, 40, GEOMETRY_CHANNELS)
    np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-4, rtol=1e-4)


def test_angles_of_a_straight_and_a_bent_elbow() -> None:
    xy = torch.zeros(1, 1, 17, 2)
    i = COCO17_INDEX
    xy[0, 0, i["left_shoulder"]] = torch.tensor([0.0, 0.0])
    xy[0, 0, i["left_elbow"]] = torch.tensor([1.0, 0.0])
    xy[0, 0, i["left_wrist"]] = torch.tensor([2.0, 0.0])  # straight arm: 180 degrees
    xy[0, 0, i["right_shoulder"]] = torch.tensor([0.0, 1.0])
    xy[0, 0, i["right_elbow"]] = torch.tensor([1.0, 1.0])
    xy[0, 0, i["right_wrist"]] = torch.tensor([1.0, 2.0])  # forearm at a right angle
    f = geometry_features(xy)[0, 0]
    cos = f[len(BONES) * 3 : len(BONES) * 3 + len(ANGLES)]
    sin = f[len(BONES) * 3 + len(ANGLES) :]
    assert cos[0].item() == pytest.approx(-1.0, abs=1e-4) and sin[0].item() == pytest.approx(0.0, abs=1e-4)
    assert cos[1].item() == pytest.approx(0.0, abs=1e-4) and abs(sin[1].item()) == pytest.approx(1.0, abs=1e-4)
    # bone lengths, in the units of the input: upper arm 1
    assert f[len(BONES) * 2].item() == pytest.approx(1.0, abs=1e-3)
    assert math.isfinite(float(f.sum()))


def test_the_geometry_encoder_keeps_the_gateways_input_and_embeds_unit_rows() -> None:
    enc = PoseEncoder(geometry=True).eval()
    out = enc(_pose())
    assert out.shape == (2, 64)
    np.testing.assert_allclose(out.norm(dim=1).detach().numpy(), 1.0, atol=1e-5)
    plain_conv, geometry_conv = PoseEncoder().trunk.stem[0], enc.trunk.stem[0]
    assert isinstance(plain_conv, torch.nn.Conv1d) and isinstance(geometry_conv, torch.nn.Conv1d)
    assert plain_conv.in_channels + GEOMETRY_CHANNELS == geometry_conv.in_channels


@needs_node
def test_a_geometry_model_exports_and_onnxruntime_node_reproduces_it(datasets, tmp_path) -> None:
    from encoders.data.utd_mhad import load_utd_mhad
    from encoders.experiments import parity_windows
    from encoders.export import export_model, run_ort_parity
    from encoders.models.joint import ModelConfig
    from encoders.pairs import paired_from_utd
    from encoders.splits import utd_classes
    from encoders.train import build_model

    clips = paired_from_utd(load_utd_mhad(datasets, subjects=[2]))
    imu, pose = parity_windows(clips)
    torch.manual_seed(0)
    model = build_model(utd_classes(), clips, ModelConfig(pose_kwargs={"geometry": True}))
    model.train()
    with torch.no_grad():  # real batch-norm statistics, so the graph is not at its init
        model.pose(torch.from_numpy(pose))
    model.eval()
    manifest = export_model(model, tmp_path / "geo", name="geo", version="0.0.1", imu_windows=imu, pose_windows=pose, training={"data": "UTD-MHAD slice", "split": "test only", "command": "pytest", "seed": 0, "metrics": {}}, parity="require")
    assert {e["name"]: e["input"]["shape"] for e in manifest["encoders"]}["pose"] == ["batch", 40, 17, 3]
    report = run_ort_parity(tmp_path / "geo")
    assert report["ok"] and report["encoders"]["pose"] <= 1e-4
