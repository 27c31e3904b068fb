"""Losses of the joint space: pairwise symmetric InfoNCE and cosine-to-anchor classification."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE between paired rows of two L2-normalised batches (row i ↔ row i)."""
    logits = a @ b.t() / temperature
    targets = torch.arange(a.shape[0], device=a.device)
    return 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.t(), targets))


def text_info_nce(embeddings: torch.Tensor, labels: torch.Tensor, prototypes: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE between a modality and the class text anchors.

    Embedding → text: each window against all anchors. Text → embedding: each anchor of a
    class present in the batch against all windows, with every window of that class a
    positive (a batch usually holds several windows per class, so one-hot targets would
    punish the model for agreeing with itself).
    """
    logits = embeddings @ prototypes.t() / temperature  # [B, C]
    to_text = F.cross_entropy(logits, labels)
    present = torch.unique(labels)
    positives = (labels.unsqueeze(0) == present.unsqueeze(1)).float()  # [P, B]
    targets = positives / positives.sum(dim=1, keepdim=True)
    from_text_logits = logits.t()[present]  # [P, B]
    from_text = -(targets * F.log_softmax(from_text_logits, dim=1)).sum(dim=1).mean()
    return 0.5 * (to_text + from_text)


def fused_logits(imu_logits: torch.Tensor, pose_logits: torch.Tensor, imu_present: torch.Tensor, pose_present: torch.Tensor) -> torch.Tensor:
    """mean-logits fusion over the modalities present per row (docs/model-format.md)."""
    wi = imu_present.float().unsqueeze(1)
    wp = pose_present.float().unsqueeze(1)
    return (wi * imu_logits + wp * pose_logits) / (wi + wp).clamp_min(1.0)


def modality_dropout_masks(batch: int, generator: torch.Generator, p_single: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row: both modalities with probability 1 - p_single, else IMU only or pose only.

    Never drops both, so every row contributes; single-modality rows force each encoder to
    classify on its own, which is what the gateway needs when the camera or wearable is gone.
    """
    u = torch.rand(batch, generator=generator)
    single = u < p_single
    imu_only = u < p_single / 2
    imu_present = ~single | imu_only
    pose_present = ~single | ~imu_only
    return imu_present, pose_present
