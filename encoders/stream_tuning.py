"""The model that tunes the stream decision rules: the default recipe without training subject 7.

Decision-rule parameters must never be chosen on the demo's (test) subjects, and a model's
scores on its own training subjects are far more confident than on a new person's, so the
rules are tuned on subject 7 played back to back, scored by a model of the same recipe and
seed trained on subjects 1, 3 and 5 — the same hold-out the open-set calibration uses.
Checkpoints are cached under runs/ (git-ignored): re-tuning only re-scores windows.
"""

from __future__ import annotations

from pathlib import Path

from encoders.checkpoint import load_checkpoint, save_checkpoint
from encoders.data.paths import repo_root
from encoders.models.joint import JointModel, ModelConfig
from encoders.splits import load_utd_split

#: the training subject held out to tune on (the open-set calibration holds out the same one)
HOLDOUT_SUBJECT = 7


def tuning_checkpoint(seed: int) -> Path:
    return repo_root() / "runs" / f"stream-tune-s{seed}.pt"


def tuning_model(datasets: Path | None, seed: int) -> JointModel:
    """The default recipe trained without :data:`HOLDOUT_SUBJECT` (loaded from runs/ when cached)."""
    path = tuning_checkpoint(seed)
    if path.is_file():
        return load_checkpoint(path)[0]
    from encoders.experiments import default_strategy
    from encoders.train import FINETUNE_LR, PRETRAIN_STEPS, RECIPE_STEPS, TrainConfig, train

    split = load_utd_split(datasets)
    fit = [c for c in split.train if c.subject != HOLDOUT_SUBJECT]
    config = TrainConfig(strategy=default_strategy(), steps=RECIPE_STEPS, pretrain_steps=PRETRAIN_STEPS, finetune_lr=FINETUNE_LR, seed=seed, log_every=50)
    result = train(split.classes, fit, config, ModelConfig())
    save_checkpoint(result.model, path, {"train": config.to_dict(), "heldOut": HOLDOUT_SUBJECT, "seconds": result.seconds})
    return result.model

