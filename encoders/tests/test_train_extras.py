"""The training loop's issue-14 hooks: other camera views of a clip, IMU↔IMU pairs in pretraining."""

from __future__ import annotations

import numpy as np
import torch

from encoders.models.joint import ModelConfig
from encoders.pairs import POSE_WINDOW, PairedClip, enumerate_windows
from encoders.splits import utd_classes
from encoders.train import ImuPairs, PoseViews, TrainConfig, _Batcher, build_model, pretrain_contrastive

torch.set_num_threads(1)


def _clip(key: str, label: int, seconds: float = 3.0) -> PairedClip:
    rng = np.random.default_rng(label)
    n, m = int(seconds * 50), int(seconds * 20)
    pose = rng.uniform(0.3, 0.7, size=(m, 17, 3)).astype(np.float32)
    return PairedClip(key=key, label=label, subject=1, imu=rng.normal(size=(n, 6)).astype(np.float32), pose=pose)


def test_a_drawn_crop_takes_a_view_of_its_own_clip_as_often_as_asked() -> None:
    clips = [_clip("a1_s1_t1", 0), _clip("a2_s1_t1", 1)]
    marker = np.full((1,) + clips[0].pose.shape, 7.0, dtype=np.float32)  # one "view", only of the first clip
    config = TrainConfig(strategy="supervised", batch_size=400, augment=False)
    batcher = _Batcher(clips, enumerate_windows(clips), config, np.random.default_rng(0), PoseViews({"a1_s1_t1": marker}, probability=0.5))
    _, pose, labels = batcher.draw()
    from_view = (pose == 7.0).reshape(pose.shape[0], -1).all(dim=1)
    assert not from_view[labels == 1].any()  # the second clip has no views
    share = from_view[labels == 0].float().mean().item()
    assert 0.4 < share < 0.6
    assert pose.shape[1] == POSE_WINDOW


def test_without_views_the_draws_are_the_plain_batchers() -> None:
    clips = [_clip("a1_s1_t1", 0), _clip("a2_s1_t1", 1)]
    config = TrainConfig(strategy="supervised", batch_size=16)
    a = _Batcher(clips, enumerate_windows(clips), config, np.random.default_rng(3)).draw()
    b = _Batcher(clips, enumerate_windows(clips), config, np.random.default_rng(3), PoseViews({}, probability=1.0)).draw()
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.numpy(), y.numpy())


class _Pairs:
    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.refs = range(100)
        self.draws = 0

    def draw(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        self.draws += 1
        x = torch.from_numpy(self.rng.normal(size=(8, 6, 100)).astype(np.float32))
        return x, x + 0.01 * torch.randn_like(x), torch.zeros(8, dtype=torch.int64)


def test_imu_pairs_add_a_term_and_their_samples_to_every_pretraining_step() -> None:
    clips = [_clip("a1_s1_t1", 0), _clip("a2_s1_t1", 1)]
    config = TrainConfig(strategy="pretrain-finetune", batch_size=8, log_every=1)
    model = build_model(utd_classes(), clips, ModelConfig())
    plain = _Batcher(clips, enumerate_windows(clips), config, np.random.default_rng(0))
    pairs = _Pairs(np.random.default_rng(1))
    history, samples = pretrain_contrastive(model, plain, config, 3, None, ImuPairs(pairs, weight=0.5))
    assert pairs.draws == 3 and samples == 3 * (8 + 8)
    assert len(history) == 3
