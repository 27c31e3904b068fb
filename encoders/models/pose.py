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


class PoseEncoder(nn.Module):
    def __init__(self, embedding_dim: int = 64, widths: tuple[int, ...] = (96, 128, 160), kernel: int = 5, dropout: float = 0.1) -> None:
        super().__init__()
        # Positions and frame-to-frame velocities of x, y (the score has no useful derivative).
        self.trunk = ConvTrunk(17 * 3 + 17 * 2, tuple(widths), kernel, embedding_dim, dropout)

    def forward(self, pose: torch.Tensor) -> torch.Tensor:
        x = normalise_pose(pose)
        b, t = x.shape[0], x.shape[1]
        xy = x[:, :, :, 0:2]
        # Velocity with a zero first frame keeps T unchanged; x20 makes it per-second-ish in scale.
        velocity = torch.cat([torch.zeros_like(xy[:, 0:1]), xy[:, 1:] - xy[:, :-1]], dim=1) * 20.0
        features = torch.cat([x.reshape(b, t, 17 * 3), velocity.reshape(b, t, 17 * 2)], dim=2)
        return self.trunk(features.transpose(1, 2))


@register_model("pose-tcn")
def pose_tcn(embedding_dim: int = 64, **kwargs: Any) -> nn.Module:
    # kwargs: ModelConfig.pose_kwargs from a checkpoint, checked by PoseEncoder's signature
    return PoseEncoder(embedding_dim=embedding_dim, **kwargs)
