"""Pose sequence encoder: [batch, T, 17, 3] COCO-17 (x, y normalised image coords, score) → [batch, D].

Normalisation is inside the graph: x, y are centred on the window's mean hip centre and
divided by its mean torso length (shoulder centre to hip centre), so the person's place in
the image and distance to the camera do not matter, while motion within the window (a
squat's hip travel) survives. The score channel passes through unchanged.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from encoders.data.pose_projection import COCO17_INDEX, COCO17_KEYPOINTS
from encoders.models.blocks import ConvTrunk
from encoders.models.registry import register_model

__all__ = ["COCO17_KEYPOINTS", "POSE_NORMALISATION", "PoseEncoder", "normalise_pose"]

LEFT_SHOULDER, RIGHT_SHOULDER = COCO17_INDEX["left_shoulder"], COCO17_INDEX["right_shoulder"]
LEFT_HIP, RIGHT_HIP = COCO17_INDEX["left_hip"], COCO17_INDEX["right_hip"]
POSE_NORMALISATION = (
    "x,y minus the window-mean hip centre (mean of left_hip, right_hip), divided by the "
    "window-mean torso length (|shoulder centre - hip centre|, floored at 1e-3); score unchanged"
)


def normalise_pose(pose: torch.Tensor) -> torch.Tensor:
    xy = pose[..., 0:2]
    score = pose[..., 2:3]
    hip = (xy[:, :, LEFT_HIP, :] + xy[:, :, RIGHT_HIP, :]) * 0.5  # [B, T, 2]
    shoulder = (xy[:, :, LEFT_SHOULDER, :] + xy[:, :, RIGHT_SHOULDER, :]) * 0.5
    centre = hip.mean(dim=1, keepdim=True)  # [B, 1, 2]
    torso = torch.sqrt(((shoulder - hip) ** 2).sum(dim=2) + 1e-12).mean(dim=1)  # [B]
    scale = torso.clamp_min(1e-3).reshape(-1, 1, 1, 1)
    xy_n = (xy - centre.unsqueeze(2)) / scale
    return torch.cat([xy_n, score], dim=3)


_I = COCO17_INDEX
#: (parent, child) keypoints of the limbs and the torso outline whose directions and lengths the
#: geometry channels carry
BONES: tuple[tuple[int, int], ...] = tuple(
    (_I[a], _I[b])
    for a, b in (
        ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"), ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
        ("left_hip", "left_knee"), ("left_knee", "left_ankle"), ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
        ("left_shoulder", "left_hip"), ("right_shoulder", "right_hip"), ("left_shoulder", "right_shoulder"), ("left_hip", "right_hip"),
    )
)
#: joint angles as (bone into the joint, bone out of it), indices into BONES; reversed bones are
#: negated so both point away from the joint: elbows, shoulders (torso side → upper arm), knees, hips
ANGLES: tuple[tuple[int, int, float], ...] = ((0, 1, -1.0), (2, 3, -1.0), (8, 0, 1.0), (9, 2, 1.0), (4, 5, -1.0), (6, 7, -1.0), (8, 4, -1.0), (9, 6, -1.0))
GEOMETRY_CHANNELS = len(BONES) * 3 + len(ANGLES) * 2


def geometry_features(xy: torch.Tensor) -> torch.Tensor:
    """[B, T, 17, 2] normalised keypoints → [B, T, GEOMETRY_CHANNELS]: per bone its unit direction
    and its length (in torso lengths), per joint angle its cosine and sine. Directions and angles
    do not change with the person's size or distance; the angles not with an in-plane turn either.
    Plain arithmetic (no atan2), so the ONNX graph stays opset-17 elementwise ops."""
    parent = xy[:, :, [a for a, _ in BONES], :]
    child = xy[:, :, [b for _, b in BONES], :]
    vec = child - parent  # [B, T, bones, 2]
    length = torch.sqrt((vec**2).sum(dim=3, keepdim=True) + 1e-6)
    unit = vec / length
    first = torch.stack([unit[:, :, i] for i, _, _ in ANGLES], dim=2) * torch.tensor([s for _, _, s in ANGLES]).reshape(1, 1, -1, 1)
    second = torch.stack([unit[:, :, j] for _, j, _ in ANGLES], dim=2)
    cos = (first * second).sum(dim=3)
    sin = first[..., 0] * second[..., 1] - first[..., 1] * second[..., 0]
    b, t = xy.shape[0], xy.shape[1]
    return torch.cat([unit.reshape(b, t, -1), length.reshape(b, t, -1), cos, sin], dim=2)


class PoseEncoder(nn.Module):
    def __init__(self, embedding_dim: int = 64, widths: tuple[int, ...] = (96, 128, 160), kernel: int = 5, dropout: float = 0.1, geometry: bool = False) -> None:
        super().__init__()
        # Positions and frame-to-frame velocities of x, y (the score has no useful derivative);
        # with ``geometry`` also bone directions/lengths and joint angles (geometry_features).
        self.geometry = geometry
        self.trunk = ConvTrunk(17 * 3 + 17 * 2 + (GEOMETRY_CHANNELS if geometry else 0), tuple(widths), kernel, embedding_dim, dropout)

    def forward(self, pose: torch.Tensor) -> torch.Tensor:
        x = normalise_pose(pose)
        b, t = x.shape[0], x.shape[1]
        xy = x[:, :, :, 0:2]
        # Velocity with a zero first frame keeps T unchanged; x20 makes it per-second-ish in scale.
        velocity = torch.cat([torch.zeros_like(xy[:, 0:1]), xy[:, 1:] - xy[:, :-1]], dim=1) * 20.0
        parts = [x.reshape(b, t, 17 * 3), velocity.reshape(b, t, 17 * 2)]
        if self.geometry:
            parts.append(geometry_features(xy))
        return self.trunk(torch.cat(parts, dim=2).transpose(1, 2))


@register_model("pose-tcn")
def pose_tcn(embedding_dim: int = 64, **kwargs: Any) -> nn.Module:
    # kwargs: ModelConfig.pose_kwargs from a checkpoint, checked by PoseEncoder's signature
    return PoseEncoder(embedding_dim=embedding_dim, **kwargs)
