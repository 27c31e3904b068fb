"""The simple baseline of the few-shot protocol: window statistics + logistic regression.

Features are what a practitioner would try first. IMU: per channel mean, std, min, max and
mean absolute first difference (30 values). Pose: keypoints centred on the window-mean hip
centre and scaled by the window-mean torso length (the pose encoder's own normalisation), then
per coordinate mean, std, min and max (17 x 2 x 4 = 136 values). Each modality gets its own
multinomial L2-regularised logistic regression (full-batch L-BFGS in torch: scikit-learn is
not installable on the target); fused = mean of the two modalities' logits, like the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


def imu_features(windows: np.ndarray) -> np.ndarray:
    """[n, 6, T] → [n, 30]."""
    x = np.asarray(windows, dtype=np.float64)
    diff = np.abs(np.diff(x, axis=2)).mean(axis=2)
    return np.concatenate([x.mean(axis=2), x.std(axis=2), x.min(axis=2), x.max(axis=2), diff], axis=1)


def pose_features(windows: np.ndarray) -> np.ndarray:
    """[n, T, 17, 3] → [n, 136]."""
    xy = np.asarray(windows[..., :2], dtype=np.float64)
    hip = 0.5 * (xy[:, :, 11] + xy[:, :, 12])  # [n, T, 2]
    shoulder = 0.5 * (xy[:, :, 5] + xy[:, :, 6])
    centre = hip.mean(axis=1)  # [n, 2]
    torso = np.maximum(np.linalg.norm(shoulder.mean(axis=1) - centre, axis=1), 1e-3)  # [n]
    z = (xy - centre[:, None, None, :]) / torso[:, None, None, None]
    z = z.reshape(z.shape[0], z.shape[1], -1)  # [n, T, 34]
    return np.concatenate([z.mean(axis=1), z.std(axis=1), z.min(axis=1), z.max(axis=1)], axis=1)


@dataclass
class LogisticRegression:
    mean: np.ndarray
    std: np.ndarray
    weight: np.ndarray  # [F, C]
    bias: np.ndarray  # [C]

    def logits(self, features: np.ndarray) -> np.ndarray:
        z = (np.asarray(features, dtype=np.float64) - self.mean) / self.std
        return z @ self.weight + self.bias


def fit_logistic_regression(features: np.ndarray, labels: np.ndarray, num_classes: int, sample_weight: np.ndarray | None = None, l2: float = 1e-3, iterations: int = 200) -> LogisticRegression:
    """Multinomial LR on standardised features; ``sample_weight`` balances rare classes."""
    x = np.asarray(features, dtype=np.float64)
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-6
    xt = torch.from_numpy((x - mean) / std)
    yt = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    wt = torch.from_numpy(np.ones(len(x)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64))
    wt = wt / wt.sum()
    weight = torch.zeros(x.shape[1], num_classes, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(num_classes, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=iterations, line_search_fn="strong_wolfe")

    def closure() -> float:
        # LBFGS only reads the loss as a number (float(closure())); the gradients are what it uses
        opt.zero_grad()
        loss = (F.cross_entropy(xt @ weight + bias, yt, reduction="none") * wt).sum() + l2 * (weight**2).sum()
        loss.backward()
        return float(loss)

    opt.step(closure)
    return LogisticRegression(mean, std, weight.detach().numpy(), bias.detach().numpy())
