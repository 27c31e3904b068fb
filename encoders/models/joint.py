"""The joint model: IMU encoder, pose encoder and class anchors in one L2-normalised space."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from encoders.models import pose as _pose  # noqa: F401  (registers the pose encoders)
from encoders.models.imu import ImuEncoder  # importing it registers imu-resnet1d
from encoders.models.registry import count_parameters, create_model


@dataclass(frozen=True)
class ClassInfo:
    id: str
    name: str
    description: str
    source_label: str | int | None = None


@dataclass
class ModelConfig:
    embedding_dim: int = 64
    imu_model: str = "imu-resnet1d"
    pose_model: str = "pose-tcn"
    imu_kwargs: dict = field(default_factory=dict)
    pose_kwargs: dict = field(default_factory=dict)
    initial_temperature: float = 0.1
    #: InfoNCE temperature between modalities (fixed: a learnable one drifts on tiny batches)
    contrastive_temperature: float = 0.1
    freeze_anchors: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


class JointModel(nn.Module):
    #: where the class anchors came from (recorded in checkpoints and the manifest)
    text_source: str = "learned-from-descriptions"

    def __init__(self, config: ModelConfig, classes: Sequence[ClassInfo], anchor_init: np.ndarray) -> None:
        super().__init__()
        if anchor_init.shape != (len(classes), config.embedding_dim):
            raise ValueError(f"anchor init shape {anchor_init.shape} != ({len(classes)}, {config.embedding_dim})")
        self.config = config
        self.classes = list(classes)
        imu = create_model(config.imu_model, embedding_dim=config.embedding_dim, **config.imu_kwargs)
        if not isinstance(imu, ImuEncoder):
            # export bakes the IMU normalisation into the graph; every IMU model must carry it
            raise TypeError(f"IMU model {config.imu_model!r} is a {type(imu).__name__}, not an ImuEncoder (normalisation buffers)")
        self.imu: ImuEncoder = imu
        self.pose = create_model(config.pose_model, embedding_dim=config.embedding_dim, **config.pose_kwargs)
        self.anchors = nn.Parameter(torch.from_numpy(np.asarray(anchor_init, dtype=np.float32).copy()))
        self.anchors.requires_grad_(not config.freeze_anchors)
        self.log_inv_temperature = nn.Parameter(torch.tensor(math.log(1.0 / config.initial_temperature)))

    def prototypes(self) -> torch.Tensor:
        return F.normalize(self.anchors, dim=1)

    def inverse_temperature(self) -> torch.Tensor:
        # Clamped so a few labels cannot push the softmax to a hard argmax (or flatten it).
        return self.log_inv_temperature.clamp(math.log(1.0), math.log(100.0)).exp()

    def temperature(self) -> float:
        return float(1.0 / self.inverse_temperature().item())

    def logits(self, embeddings: torch.Tensor) -> torch.Tensor:
        return embeddings @ self.prototypes().t() * self.inverse_temperature()

    def parameter_counts(self) -> dict[str, int]:
        return {"imu": count_parameters(self.imu), "pose": count_parameters(self.pose), "anchors": self.anchors.numel()}
