"""One training loop for every strategy.

Strategies (compared in RESULTS.md, as MuJo compares multitask strategies):

* ``supervised`` — baseline: the supervised loss on labelled windows only.
* ``pretrain-finetune`` — contrastive IMU↔pose InfoNCE on *unlabelled* training windows
  first, then the supervised loss on labelled windows.
* ``joint`` — one multitask loss per step: the supervised loss on a labelled batch plus the
  IMU↔pose InfoNCE on an unlabelled batch.

The supervised loss is the same everywhere: cross-entropy of cosine-to-anchor logits
(mean-logits fused over a random modality subset per row, so every subset works) plus the
IMU↔text and pose↔text InfoNCE terms.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterator, Mapping, Sequence, Sized
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, TextIO

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from encoders.losses import fused_logits, info_nce, modality_dropout_masks, text_info_nce
from encoders.models.joint import ClassInfo, JointModel, ModelConfig
from encoders.models.text import TextEmbedder, make_embedder, project_to_dim
from encoders.pairs import ALIGN_STEP, ImuSamples, PairedClip, WindowRef, crop, crop_pose, enumerate_windows, imu_statistics, labelled_subset, max_start
from encoders.runtime import seed_everything

STRATEGIES = ("supervised", "pretrain-finetune", "joint")

# The recipe every command starts from; each number is defined here once.
#: supervised steps of the default model, RESULTS.md's grid, few-shot base and from-scratch models
RECIPE_STEPS = 500
#: contrastive steps before fine-tuning (pretrain-finetune)
PRETRAIN_STEPS = 400
BATCH_SIZE = 64
LR = 2e-3
#: fine-tuning after pretraining at a quarter of the base rate keeps more of the pretrained
#: space (one seed at 10 % labels: IMU clip F1 0.751 at 2e-3 vs 0.780 at 5e-4)
FINETUNE_LR = 5e-4
#: steps when an already trained model learns new classes (few-shot protocol, finetune --recording)
FINETUNE_STEPS = 200


@dataclass
class TrainConfig:
    strategy: str = "joint"
    label_fraction: float = 1.0
    #: optimisation steps on the supervised objective (all strategies)
    steps: int = 600
    #: contrastive-only steps before fine-tuning (pretrain-finetune only)
    pretrain_steps: int = PRETRAIN_STEPS
    batch_size: int = BATCH_SIZE
    lr: float = LR
    #: learning rate after pretraining (None: ``lr``); lower keeps more of the pretrained space
    finetune_lr: float | None = None
    weight_decay: float = 1e-4
    seed: int = 0
    #: random crop: window starts move by up to ±jitter aligned steps (±0.1 s each)
    jitter_steps: int = 2
    modality_dropout: float = 0.5
    text_weight: float = 0.5
    pair_weight: float = 1.0
    augment: bool = True
    log_every: int = 50

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {self.strategy!r}; choose one of {', '.join(STRATEGIES)}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainResult:
    model: JointModel
    config: TrainConfig
    seconds: float
    samples: int
    history: list[dict] = field(default_factory=list)
    labelled_windows: int = 0

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.seconds if self.seconds > 0 else 0.0


def build_model(classes: Sequence[ClassInfo], train_clips: Sequence[ImuSamples], model_config: ModelConfig | None = None, text: TextEmbedder | str | None = None) -> JointModel:
    """A fresh joint model: anchors from the class descriptions, IMU statistics from the data."""
    config = model_config or ModelConfig()
    embedder = make_embedder(text) if text is None or isinstance(text, str) else text
    raw = embedder.embed([c.id for c in classes], [c.description for c in classes])
    # Anchors start from the text whatever the run's seed: seed 0 for the projection.
    anchors = project_to_dim(raw, config.embedding_dim, seed=0)
    model = JointModel(config, classes, anchors)
    model.text_source = embedder.source
    mean, std = imu_statistics(train_clips)
    model.imu.set_normalisation(torch.from_numpy(mean), torch.from_numpy(std))
    return model


class WindowBatcher(Protocol):
    """What the contrastive loop draws from: (imu, pose, labels) batches; ``refs`` sizes an epoch."""

    @property
    def refs(self) -> Sized: ...

    def draw(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]: ...


class PresenceBatcher(WindowBatcher, Protocol):
    """What the supervised loop draws from: batches plus per-row masks of the present modalities."""

    def draw_with_presence(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]: ...


class TrainableModel(Protocol):
    """What the loops train: two encoders, class anchors and the model config (a JointModel, or
    a view of one such as spswhar_eval.ImuOnlyView)."""

    @property
    def imu(self) -> nn.Module: ...

    @property
    def pose(self) -> nn.Module: ...

    @property
    def config(self) -> ModelConfig: ...

    def logits(self, embeddings: torch.Tensor) -> torch.Tensor: ...

    def prototypes(self) -> torch.Tensor: ...

    def parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]: ...

    def train(self, mode: bool = True) -> Any: ...


@dataclass(frozen=True)
class PoseViews:
    """Other camera views of training clips (encoders/data/camera_views.py): per clip key a
    bank [views, frames, 17, 3] on the clip's pose time base; a drawn training crop takes one
    of them at random with ``probability`` instead of the clip's own (frontal) pose."""

    bank: Mapping[str, np.ndarray]
    probability: float = 0.5


class _Batcher:
    """Draws random aligned crops (with augmentation) from a list of windows."""

    def __init__(
        self, clips: Sequence[PairedClip], refs: Sequence[WindowRef], config: TrainConfig, rng: np.random.Generator, pose_views: PoseViews | None = None
    ) -> None:
        if not refs:
            raise ValueError("no training windows to draw from")
        self.clips = clips
        self.refs = refs
        self.config = config
        self.rng = rng
        self.pose_views = pose_views

    def draw(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        imu, pose, labels, _, _ = self.draw_with_presence()
        return imu, pose, labels

    def draw_with_presence(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """A batch plus per-row masks of the modalities the source clip really has."""
        cfg, rng = self.config, self.rng
        picks = rng.integers(0, len(self.refs), size=cfg.batch_size)
        imu = np.empty((cfg.batch_size, 6, 100), dtype=np.float32)
        pose = np.empty((cfg.batch_size, 40, 17, 3), dtype=np.float32)
        labels = np.empty(cfg.batch_size, dtype=np.int64)
        has_imu = np.empty(cfg.batch_size, dtype=bool)
        has_pose = np.empty(cfg.batch_size, dtype=bool)
        for row, pick in enumerate(picks):
            ref = self.refs[pick]
            clip = self.clips[ref.clip]
            shift = int(rng.integers(-cfg.jitter_steps, cfg.jitter_steps + 1)) * ALIGN_STEP
            start = min(max(ref.start + shift, 0), max_start(clip))
            imu[row], pose[row] = crop(clip, start)
            views = self.pose_views.bank.get(clip.key) if self.pose_views is not None else None
            if views is not None and self.pose_views is not None and rng.random() < self.pose_views.probability:
                pose[row] = crop_pose(views[int(rng.integers(0, views.shape[0]))], start)
            labels[row] = clip.label
            has_imu[row], has_pose[row] = clip.has_imu, clip.has_pose
        if cfg.augment:
            imu, pose = augment(imu, pose, rng)
        return torch.from_numpy(imu), torch.from_numpy(pose), torch.from_numpy(labels), torch.from_numpy(has_imu), torch.from_numpy(has_pose)


def _rotation_matrices(count: int, max_deg: float, rng: np.random.Generator) -> np.ndarray:
    axis = rng.standard_normal((count, 3))
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    angle = np.deg2rad(rng.uniform(-max_deg, max_deg, size=count))
    k = np.zeros((count, 3, 3))
    k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -axis[:, 2], axis[:, 1], -axis[:, 0]
    k = k - np.transpose(k, (0, 2, 1))
    s, c = np.sin(angle)[:, None, None], np.cos(angle)[:, None, None]
    return np.eye(3)[None] + s * k + (1 - c) * (k @ k)


def augment(imu: np.ndarray, pose: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Small sensor-mounting rotations and gain errors for the IMU; keypoint jitter for pose.

    No mirroring: UTD-MHAD has left/right classes (swipe left vs right).
    """
    b = imu.shape[0]
    rot = _rotation_matrices(b, 15.0, rng).astype(np.float32)
    acc = rot @ imu[:, 0:3, :]
    gyro = rot @ imu[:, 3:6, :]
    acc *= rng.uniform(0.9, 1.1, size=(b, 1, 1)).astype(np.float32)
    gyro *= rng.uniform(0.9, 1.1, size=(b, 1, 1)).astype(np.float32)
    imu_out = np.concatenate([acc, gyro], axis=1)
    imu_out += rng.normal(0.0, 0.05, size=imu_out.shape).astype(np.float32) * np.array([1, 1, 1, 0.2, 0.2, 0.2], dtype=np.float32)[None, :, None]
    pose_out = pose.copy()
    # In-plane rotation and anisotropic scaling about the hip centre survive the encoder's
    # position/scale normalisation, so they emulate other camera angles; jitter emulates
    # keypoint noise of a 2D estimator.
    xy = pose_out[..., 0:2]
    centre = 0.5 * (xy[:, :, 11:12, :] + xy[:, :, 12:13, :]).mean(axis=1, keepdims=True)
    theta = np.deg2rad(rng.uniform(-10.0, 10.0, size=b))
    cos, sin = np.cos(theta), np.sin(theta)
    sx = rng.uniform(0.85, 1.15, size=b)
    mat = np.stack([np.stack([cos * sx, -sin], axis=1), np.stack([sin * sx, cos], axis=1)], axis=1).astype(np.float32)  # [b, 2, 2]
    xy = np.einsum("bij,btkj->btki", mat, xy - centre) + centre
    xy += rng.normal(0.0, 0.004, size=xy.shape).astype(np.float32)
    pose_out[..., 0:2] = xy
    return imu_out.astype(np.float32), pose_out.astype(np.float32)


def supervised_loss(
    model: TrainableModel,
    imu_emb: torch.Tensor,
    pose_emb: torch.Tensor,
    labels: torch.Tensor,
    config: TrainConfig,
    generator: torch.Generator,
    has_imu: torch.Tensor | None = None,
    has_pose: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``has_imu``/``has_pose`` (default all True) mark rows whose clip lacks a modality: such
    a row is scored on the modality it has, and its placeholder embedding never enters a loss."""
    imu_present, pose_present = modality_dropout_masks(labels.shape[0], generator, config.modality_dropout)
    if has_imu is not None and has_pose is not None:
        both = has_imu & has_pose
        imu_present = torch.where(both, imu_present, has_imu)
        pose_present = torch.where(both, pose_present, has_pose)
    fused = fused_logits(model.logits(imu_emb), model.logits(pose_emb), imu_present, pose_present)
    loss = F.cross_entropy(fused, labels)
    if config.text_weight > 0:
        prototypes = model.prototypes()
        t = model.config.contrastive_temperature
        terms = []
        for emb, mask in ((imu_emb, has_imu), (pose_emb, has_pose)):
            if mask is None:
                terms.append(text_info_nce(emb, labels, prototypes, t))
            elif bool(mask.any()):
                terms.append(text_info_nce(emb[mask], labels[mask], prototypes, t))
        loss = loss + config.text_weight * 0.5 * sum(terms)
    return loss, fused


def encode_present(encoder: torch.nn.Module, windows: torch.Tensor, present: torch.Tensor, dim: int) -> torch.Tensor:
    """Embeddings of the rows that have this modality; zeros elsewhere (never run through the
    encoder, so placeholders cannot disturb its batch-norm statistics)."""
    if bool(present.all()):
        return encoder(windows)
    out = torch.zeros(windows.shape[0], dim)
    if bool(present.any()):
        out = out.index_put((present.nonzero(as_tuple=True)[0],), encoder(windows[present]))
    return out


def _cosine_lr(step: int, total: int, base: float) -> float:
    warmup = max(1, total // 20)
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base * 0.5 * (1.0 + math.cos(math.pi * progress))


class _Progress:
    def __init__(self, phase: str, total_steps: int, steps_per_epoch: float, out: TextIO | None) -> None:
        self.phase = phase
        self.total = total_steps
        self.steps_per_epoch = max(steps_per_epoch, 1e-9)
        self.out = out
        self.start = time.perf_counter()
        self.samples = 0

    def line(self, step: int, loss: float, metric_name: str, metric: float) -> dict:
        elapsed = time.perf_counter() - self.start
        rate = self.samples / elapsed if elapsed > 0 else 0.0
        eta = elapsed / (step + 1) * (self.total - step - 1)
        record = {"phase": self.phase, "step": step + 1, "epoch": (step + 1) / self.steps_per_epoch, "loss": loss, metric_name: metric, "samples_per_s": rate, "eta_s": eta}
        if self.out is not None:
            print(
                f"[{self.phase}] step {step + 1}/{self.total} epoch {record['epoch']:.1f} loss {loss:.4f} "
                f"{metric_name} {metric:.3f} {rate:.0f} samples/s ETA {eta:.0f}s",
                file=self.out,
                flush=True,
            )
        return record


def _optimiser(model: TrainableModel, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


@dataclass(frozen=True)
class ImuPairs:
    """Simultaneous IMU↔IMU windows of another data set (e.g. sp-sw-har's watch and phone,
    spswhar_eval.PairBatcher) for the contrastive pretraining, and the weight of their term."""

    batcher: WindowBatcher
    weight: float = 0.5


def pretrain_contrastive(
    model: TrainableModel, batcher: WindowBatcher, config: TrainConfig, steps: int, out: TextIO | None, imu_pairs: ImuPairs | None = None
) -> tuple[list[dict], int]:
    """IMU↔pose InfoNCE on unlabelled windows; labels drawn by the batcher are ignored.

    ``imu_pairs`` adds, in every step, an IMU↔IMU InfoNCE term on simultaneous windows of two
    IMUs of another data set (no pose there): both sides go through the one IMU encoder."""
    model.train()
    opt = _optimiser(model, config.lr, config.weight_decay)
    progress = _Progress("pretrain", steps, len(batcher.refs) / config.batch_size, out)
    history, running, running_acc = [], 0.0, 0.0
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = _cosine_lr(step, steps, config.lr)
        imu, pose, _ = batcher.draw()
        e_imu, e_pose = model.imu(imu), model.pose(pose)
        loss = config.pair_weight * info_nce(e_imu, e_pose, model.config.contrastive_temperature)
        if imu_pairs is not None:
            a, b, _ = imu_pairs.batcher.draw()
            loss = loss + imu_pairs.weight * info_nce(model.imu(a), model.imu(b), model.config.contrastive_temperature)
            progress.samples += a.shape[0]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        progress.samples += imu.shape[0]
        with torch.no_grad():
            acc = (e_imu @ e_pose.t()).argmax(dim=1).eq(torch.arange(imu.shape[0])).float().mean().item()
        running = 0.9 * running + 0.1 * loss.item() if step else loss.item()
        running_acc = 0.9 * running_acc + 0.1 * acc if step else acc
        if (step + 1) % config.log_every == 0 or step + 1 == steps:
            history.append(progress.line(step, running, "retrieval@1", running_acc))
    return history, progress.samples


def train_supervised(model: TrainableModel, labelled: PresenceBatcher, unlabelled: WindowBatcher | None, config: TrainConfig, steps: int, out: TextIO | None, phase: str, lr: float) -> tuple[list[dict], int]:
    model.train()
    opt = _optimiser(model, lr, config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed + 17)
    progress = _Progress(phase, steps, len(labelled.refs) / config.batch_size, out)
    history, running, running_acc = [], 0.0, 0.0
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = _cosine_lr(step, steps, lr)
        imu, pose, labels, has_imu, has_pose = labelled.draw_with_presence()
        dim = model.config.embedding_dim
        imu_emb, pose_emb = encode_present(model.imu, imu, has_imu, dim), encode_present(model.pose, pose, has_pose, dim)
        loss, fused = supervised_loss(model, imu_emb, pose_emb, labels, config, generator, has_imu, has_pose)
        progress.samples += imu.shape[0]
        if unlabelled is not None:
            u_imu, u_pose, _ = unlabelled.draw()
            loss = loss + config.pair_weight * info_nce(model.imu(u_imu), model.pose(u_pose), model.config.contrastive_temperature)
            progress.samples += u_imu.shape[0]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        acc = fused.detach().argmax(dim=1).eq(labels).float().mean().item()
        running = 0.9 * running + 0.1 * loss.item() if step else loss.item()
        running_acc = 0.9 * running_acc + 0.1 * acc if step else acc
        if (step + 1) % config.log_every == 0 or step + 1 == steps:
            history.append(progress.line(step, running, "train_acc", running_acc))
    return history, progress.samples


def train(
    classes: Sequence[ClassInfo],
    train_clips: Sequence[PairedClip],
    config: TrainConfig,
    model_config: ModelConfig | None = None,
    text: TextEmbedder | str | None = None,
    out: TextIO | None = sys.stdout,
    init_model: JointModel | None = None,
    extra_pairs: Sequence[PairedClip] = (),
    pose_views: PoseViews | None = None,
    imu_pairs: ImuPairs | None = None,
) -> TrainResult:
    """Train one model with ``config.strategy``; ``init_model`` continues from a checkpoint
    (e.g. a pretrained one) instead of starting fresh. ``extra_pairs`` (e.g. virtual IMU ↔ pose,
    encoders/data/virtual_imu.py) join only the unlabelled IMU↔pose pool of the contrastive
    terms: never labelled, never in the IMU normalisation statistics. ``pose_views`` (other
    camera views of the training clips) replace a drawn pose crop at random, in every phase;
    ``imu_pairs`` add an IMU↔IMU term to the contrastive pretraining (:func:`pretrain_contrastive`)."""
    seed_everything(config.seed)
    rng = np.random.default_rng(config.seed)
    model = init_model if init_model is not None else build_model(classes, train_clips, model_config, text)
    all_refs = enumerate_windows(train_clips)
    labelled_refs = labelled_subset(all_refs, train_clips, config.label_fraction, len(classes), config.seed)
    labelled = _Batcher(train_clips, labelled_refs, config, rng, pose_views)
    # IMU<->pose pairs exist only where a clip has both streams.
    pair_clips = list(train_clips) + list(extra_pairs)
    paired_refs = [r for r in enumerate_windows(pair_clips) if pair_clips[r.clip].has_imu and pair_clips[r.clip].has_pose]
    needs_pairs = config.strategy == "joint" or (config.strategy == "pretrain-finetune" and config.pretrain_steps > 0)
    if needs_pairs and not paired_refs:
        raise ValueError(f"strategy {config.strategy!r} needs IMU<->pose pairs but no training interval has both; use the supervised loss (no --joint, no pretraining)")
    unlabelled = _Batcher(pair_clips, paired_refs, config, np.random.default_rng(config.seed + 1), pose_views) if paired_refs else None
    started = time.perf_counter()
    history: list[dict] = []
    samples = 0
    if config.strategy == "pretrain-finetune" and config.pretrain_steps > 0:
        assert unlabelled is not None
        h, n = pretrain_contrastive(model, unlabelled, config, config.pretrain_steps, out, imu_pairs)
        history += h
        samples += n
    if config.steps > 0:
        use_pairs = unlabelled if config.strategy == "joint" else None
        phase = {"supervised": "supervised", "pretrain-finetune": "finetune", "joint": "joint"}[config.strategy]
        lr = config.finetune_lr if config.strategy == "pretrain-finetune" and config.finetune_lr else config.lr
        h, n = train_supervised(model, labelled, use_pairs, config, config.steps, out, phase, lr)
        history += h
        samples += n
    model.eval()
    return TrainResult(model, config, time.perf_counter() - started, samples, history, len(labelled_refs))
