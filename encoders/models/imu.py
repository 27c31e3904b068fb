"""IMU window encoder: raw [batch, 6, T] (m/s², rad/s) → L2-normalised [batch, D].

The per-channel mean/std live in buffers so the exported ONNX graph takes raw canonical
units and the gateway does no preprocessing.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from encoders.models.blocks import ConvTrunk
from encoders.models.registry import register_model

IMU_CHANNELS = ("ax", "ay", "az", "gx", "gy", "gz")
IMU_UNITS = ("m/s^2", "m/s^2", "m/s^2", "rad/s", "rad/s", "rad/s")


class ImuEncoder(nn.Module):
    # per-channel input normalisation, registered buffers (saved and exported with the weights)
    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, embedding_dim: int = 64, widths: tuple[int, ...] = (48, 64, 96, 128), kernel: int = 5, dropout: float = 0.1) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(1, 6, 1))
        self.register_buffer("std", torch.ones(1, 6, 1))
        self.trunk = ConvTrunk(6, tuple(widths), kernel, embedding_dim, dropout)

    def set_normalisation(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.mean.copy_(mean.reshape(1, 6, 1))
        self.std.copy_(std.clamp_min(1e-3).reshape(1, 6, 1))

    def forward(self, imu: torch.Tensor) -> torch.Tensor:
        return self.trunk((imu - self.mean) / self.std)


@register_model("imu-resnet1d")
def imu_resnet1d(embedding_dim: int = 64, **kwargs: Any) -> nn.Module:
    # kwargs: ModelConfig.imu_kwargs from a checkpoint, checked by ImuEncoder's signature
    return ImuEncoder(embedding_dim=embedding_dim, **kwargs)
