"""The calibrated "unknown" decision (manifest ``openSet``, score ``max-cosine``).

A window's score is its top class's cosine (fused: the mean over the present modalities of
each modality's cosine to that class). The threshold per modality set is the
``target`` quantile of the scores of known-class windows from subjects the encoders never saw
in training — training-set windows sit closer to their prototypes than a new person's do, so
a threshold taken from them would reject far more than ``target`` at the gateway. Test
subjects are never used to learn it.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from encoders.enroll import PrototypeSet, cosines, decide, fused_cosine

COMBINATIONS = ("imu", "pose", "imu+pose")
DEFAULT_TARGET_KNOWN_REJECTION = 0.05


def combo_cosines(prototypes: PrototypeSet, embeddings: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """{combo: [n, C]} for IMU only, pose only and fused (rows paired across modalities)."""
    per = cosines(prototypes, embeddings)
    out = dict(per)
    if "imu" in per and "pose" in per:
        out["imu+pose"] = fused_cosine({"imu": per["imu"], "pose": per["pose"]})
    return out


def calibrate_thresholds(scores: Mapping[str, np.ndarray], target: float = DEFAULT_TARGET_KNOWN_REJECTION) -> dict[str, float]:
    """Per combo: the score below which ``target`` of the known-class windows fall."""
    return {combo: float(np.quantile(s, target)) for combo, s in scores.items() if len(s)}


def rejection_rates(score: np.ndarray, is_known: np.ndarray, threshold: float) -> dict[str, float]:
    """Share of unknown-class rows announced unknown, and of known-class rows wrongly rejected."""
    rejected = score < threshold
    unknown = ~is_known
    return {
        "unknownRejected": float(rejected[unknown].mean()) if unknown.any() else float("nan"),
        "knownRejected": float(rejected[is_known].mean()) if is_known.any() else float("nan"),
        "unknownCount": int(unknown.sum()),
        "knownCount": int(is_known.sum()),
    }


def scores_of(cos: np.ndarray) -> np.ndarray:
    return decide(cos)[1]
