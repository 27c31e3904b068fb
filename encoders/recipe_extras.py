"""The issue-14 additions to the training recipe, by name: what ``idea-rows`` measures and what
``train-default --idea`` trains with, built in one place so both train the same thing.

* ``control`` — the recipe unchanged;
* ``camera-views`` — synthetic camera views of the training skeletons replace a drawn pose crop
  at random (:mod:`encoders.data.camera_views`);
* ``geometry`` — bone / joint-angle channels inside the pose graph (``pose_kwargs geometry``);
* ``views+geometry`` — both;
* ``spswhar-imu`` — sp-sw-har watch↔phone windows add an IMU↔IMU term to the pretraining.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from encoders.models.joint import ModelConfig
from encoders.pairs import PairedClip
from encoders.train import ImuPairs, PoseViews, TrainConfig

#: idea name → what it changes (the rows' text)
IDEAS = {
    "control": "pretrain-finetune, rerun (unchanged recipe)",
    "camera-views": "+ synthetic camera views in training",
    "geometry": "+ bone / joint-angle channels in the pose graph",
    "views+geometry": "+ camera views and geometry channels",
    "spswhar-imu": "+ sp-sw-har watch↔phone IMU in pretraining",
}


@dataclass(frozen=True)
class IdeaSettings:
    """The fixed settings of the ideas (chosen before any test figure was seen)."""

    #: camera views: views per training clip, and the chance a drawn crop uses one of them
    views: int = 8
    view_probability: float = 0.5
    #: weight of the sp-sw-har watch↔phone InfoNCE term beside the IMU↔pose one
    imu_pair_weight: float = 0.5


@dataclass
class RecipeExtras:
    model_config: ModelConfig = field(default_factory=ModelConfig)
    pose_views: PoseViews | None = None
    imu_pairs: ImuPairs | None = None


def check_idea(idea: str) -> str:
    if idea not in IDEAS:
        raise ValueError(f"unknown idea {idea!r}; choose one of {', '.join(IDEAS)}")
    return idea


def recipe_extras(idea: str, train_clips: list[PairedClip], datasets: Path | None, seed: int, settings: IdeaSettings | None = None) -> RecipeExtras:
    """What ``idea`` adds to the recipe for one seed (views and sp-sw-har draws are seeded)."""
    settings = settings or IdeaSettings()
    check_idea(idea)
    extras = RecipeExtras()
    if idea in ("geometry", "views+geometry"):
        extras.model_config = ModelConfig(pose_kwargs={"geometry": True})
    if idea in ("camera-views", "views+geometry"):
        from encoders.data.camera_views import view_bank

        bank = view_bank([c.key for c in train_clips], [c.imu.shape[0] for c in train_clips], datasets, settings.views, seed + 2000)
        extras.pose_views = PoseViews(bank, settings.view_probability)
    if idea == "spswhar-imu":
        from encoders.data.spswhar import load_spswhar
        from encoders.spswhar_eval import PairBatcher, spswhar_pool

        # Every sp-sw-har subject: no label is used and no UTD-MHAD test subject is in it.
        pool = spswhar_pool(load_spswhar(datasets))
        print(f"sp-sw-har: {pool.paired.size} simultaneous watch/phone crops", flush=True)
        extras.imu_pairs = ImuPairs(PairBatcher(pool, TrainConfig.batch_size, np.random.default_rng(seed + 3000)), settings.imu_pair_weight)
    return extras


def idea_record(idea: str, settings: IdeaSettings | None = None) -> dict:
    """The manifest/raw-file record of an idea's settings."""
    from encoders.data.camera_views import ViewRanges

    settings = settings or IdeaSettings()
    out: dict = {"idea": idea, "description": IDEAS[idea]}
    if idea in ("camera-views", "views+geometry"):
        r = ViewRanges()
        out |= {"views": settings.views, "viewProbability": settings.view_probability, "yawDeg": r.yaw_deg, "heightM": r.height_m, "distanceM": r.distance_m, "focalPx": r.focal_px}
    if idea in ("geometry", "views+geometry"):
        out["poseKwargs"] = {"geometry": True}
    if idea == "spswhar-imu":
        out["imuPairWeight"] = settings.imu_pair_weight
    return out
