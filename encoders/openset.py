"""The calibrated "unknown" decision (manifest ``openSet``, score ``max-cosine``).

A window's score is its top class's cosine (fused: the mean over the present modalities of
each modality's cosine to that class). The threshold per modality set is the
``target`` quantile of the scores of known-class windows from subjects the encoders never saw
in training — training-set windows sit closer to their prototypes than a new person's do, so
a threshold taken from them would reject far more than ``target`` at the gateway. Test
subjects are never used to learn it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from encoders.enroll import PrototypeSet, cosines, decide, fused_cosine
from encoders.evaluate import TestSet
from encoders.models.joint import JointModel, ModelConfig
from encoders.pairs import PairedClip
from encoders.splits import UtdSplit
from encoders.train import ImuPairs, PoseViews, TrainConfig, train

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


def calibrate_open_set(
    model: JointModel,
    split: UtdSplit,
    config: TrainConfig,
    command: str,
    target: float = DEFAULT_TARGET_KNOWN_REJECTION,
    holdout_subject: int = 7,
    pose_views: PoseViews | None = None,
    imu_pairs: ImuPairs | None = None,
) -> dict:
    """The manifest's ``openSet`` for a model trained on UTD-MHAD's training subjects.

    A second model with the same recipe is trained without ``holdout_subject`` (a training
    subject); its scores on that subject's windows set the thresholds, which are then applied
    to ``model`` (same recipe, so the same score scale; ``pose_views``/``imu_pairs`` as the
    recipe had them). The test subjects only *measure* the result (recorded under ``measured``),
    they never set it.
    """
    fit = [c for c in split.train if c.subject != holdout_subject]
    held = [c for c in split.train if c.subject == holdout_subject]
    calib_config = dataclasses.replace(config)
    calibration_model = train(split.classes, fit, calib_config, ModelConfig(**model.config.to_dict()), out=None, pose_views=pose_views, imu_pairs=imu_pairs).model
    ids = [c.id for c in split.classes]

    def scores(m: JointModel, clips: list[PairedClip]) -> tuple[dict[str, np.ndarray], TestSet]:
        data = TestSet(clips)
        protos = PrototypeSet.from_anchors(ids, m.prototypes().detach().numpy())
        return {k: scores_of(v) for k, v in combo_cosines(protos, data.embed(m)).items()}, data

    val_scores, val = scores(calibration_model, held)
    thresholds = calibrate_thresholds(val_scores, target)
    test_scores, test = scores(model, split.test)
    measured = {
        "validationWindows": int(len(val.labels)),
        "testKnownRejected": {k: float((v < thresholds[k]).mean()) for k, v in test_scores.items()},
        "testWindows": int(len(test.labels)),
    }
    return {
        "score": "max-cosine",
        "thresholds": thresholds,
        "calibration": {
            "data": (
                f"UTD-MHAD training subject {holdout_subject}, all 27 classes, every clip window, scored by a model of the same recipe and seed "
                f"trained on the other training subjects; threshold = the {target:.0%} quantile of the top-class cosine per modality set. "
                "testKnownRejected: share of test-subject (2,4,6,8) windows the thresholds reject (measured, not tuned)"
            ),
            "targetKnownRejection": target,
            "measured": measured,
            "command": command,
        },
    }
