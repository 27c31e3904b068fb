"""The training loop on a small slice of the real UTD-MHAD data."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from encoders.pairs import IMU_WINDOW, POSE_WINDOW, crop, enumerate_windows, labelled_subset, paired_from_utd, window_starts
from encoders.splits import utd_classes
from encoders.train import TrainConfig, train

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def small_clips(datasets):
    from encoders.data.utd_mhad import load_utd_mhad

    clips = load_utd_mhad(datasets, subjects=[1])
    return paired_from_utd([c for c in clips if c.action <= 4])


def test_windows_are_aligned_and_cover_short_clips(small_clips) -> None:
    clip = small_clips[0]
    starts = window_starts(clip)
    assert starts[0] == 0 and starts[-1] + IMU_WINDOW >= clip.imu.shape[0] - 5
    imu, pose = crop(clip, starts[1])
    assert imu.shape == (6, IMU_WINDOW) and pose.shape == (POSE_WINDOW, 17, 3)
    # IMU sample s is at s / 50 s, pose frame s * 0.4 at the same instant.
    assert np.array_equal(imu[:, 0], clip.imu[starts[1]])
    assert np.array_equal(pose[0], clip.pose[starts[1] * 2 // 5])
    short = type(clip)(clip.key, clip.label, clip.subject, clip.imu[:60], clip.pose[:24])
    imu, pose = crop(short, 0)
    assert imu.shape == (6, IMU_WINDOW) and np.array_equal(imu[:, -1], short.imu[-1])  # edge-padded


def test_label_fractions_are_stratified_with_every_class(small_clips) -> None:
    refs = enumerate_windows(small_clips)
    subset = labelled_subset(refs, small_clips, 0.02, num_classes=27, seed=0)
    labels = {small_clips[r.clip].label for r in subset}
    assert labels == {0, 1, 2, 3}  # at least one window per present class even at 2 %
    half = labelled_subset(refs, small_clips, 0.5, num_classes=27, seed=0)
    assert abs(len(half) - len(refs) / 2) <= 4
    with pytest.raises(ValueError, match="label fraction"):
        labelled_subset(refs, small_clips, 0.0, 27, 0)


def test_tiny_training_run_loss_falls(small_clips) -> None:
    out = io.StringIO()
    cfg = TrainConfig(strategy="joint", steps=40, batch_size=32, lr=3e-3, log_every=5, seed=0)
    result = train(utd_classes(), small_clips, cfg, out=out)
    first, last = result.history[0], result.history[-1]
    assert last["loss"] < 0.7 * first["loss"], (first, last)
    assert last["train_acc"] > first["train_acc"]
    log = out.getvalue()
    # Progress lines carry epoch, loss, metric, throughput and ETA.
    assert "epoch" in log and "loss" in log and "train_acc" in log and "samples/s" in log and "ETA" in log


def test_pretrain_then_finetune_runs_both_phases(small_clips) -> None:
    cfg = TrainConfig(strategy="pretrain-finetune", steps=4, pretrain_steps=4, batch_size=16, log_every=2, seed=0)
    result = train(utd_classes(), small_clips, cfg, out=None)
    phases = [h["phase"] for h in result.history]
    assert phases.count("pretrain") == 2 and phases.count("finetune") == 2
    assert "retrieval@1" in result.history[0]


def test_same_seed_same_model(small_clips) -> None:
    def weights(seed: int) -> torch.Tensor:
        cfg = TrainConfig(strategy="supervised", steps=3, batch_size=16, seed=seed, log_every=10)
        model = train(utd_classes(), small_clips, cfg, out=None).model
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    assert torch.equal(weights(3), weights(3))
    assert not torch.equal(weights(3), weights(4))


def test_unknown_strategy_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown strategy 'magic'"):
        TrainConfig(strategy="magic")


def test_recording_labels_with_unknown_class_names_are_an_error() -> None:
    from encoders.splits import class_indices

    classes = utd_classes()
    assert class_indices(["squat", None, "swipe_left"], classes, "labels.csv").tolist() == [26, -1, 0]
    with pytest.raises(ValueError, match=r"labels.csv: unknown class names \['deadlift'\]"):
        class_indices(["squat", "deadlift"], classes, "labels.csv")


def test_extra_pairs_feed_only_the_contrastive_pool(small_clips) -> None:
    """Virtual IMU ↔ pose clips (``extra_pairs``) are drawn by pretraining even when no real
    clip has both streams, and never change the IMU normalisation taken from the real clips."""
    from dataclasses import replace

    from encoders.pairs import imu_statistics

    imu_only = [replace(c, has_pose=False) for c in small_clips]
    virtual = [replace(c, key=c.key + "~virtual", imu=c.imu * 3.0 + 1.0) for c in small_clips]
    cfg = TrainConfig(strategy="pretrain-finetune", steps=0, pretrain_steps=3, batch_size=16, log_every=1, seed=0)
    with pytest.raises(ValueError, match="needs IMU<->pose pairs"):
        train(utd_classes(), imu_only, cfg, out=None)
    result = train(utd_classes(), imu_only, cfg, out=None, extra_pairs=virtual)
    assert [h["phase"] for h in result.history] == ["pretrain"] * 3
    mean, std = imu_statistics(imu_only)
    np.testing.assert_allclose(result.model.imu.mean.numpy().ravel(), mean, rtol=1e-6)
