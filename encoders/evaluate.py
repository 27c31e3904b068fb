"""Evaluation per modality combination: IMU only, pose only, and fused (mean-logits).

* clip level: every test clip is cut into windows at the gateway's hop; each modality's
  logits are averaged over the clip's windows, fused = mean of the two (docs/model-format.md).
* window level: the same windows scored one by one (what a single gateway hop decides).
* stream level: windows cut from a recording (recordings/demo) the way the gateway cuts
  its live streams, labelled by the activity at the window's centre.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from encoders.metrics import confusion_matrix, summarise
from encoders.models.joint import JointModel
from encoders.pairs import PairedClip, enumerate_windows, stack_windows

#: the modality sets every metric is reported for (fused = mean-logits of the two)
COMBINATIONS = ("imu", "pose", "imu+pose")


@torch.no_grad()
def embed(model: JointModel, modality: str, windows: np.ndarray, batch: int = 256) -> np.ndarray:
    model.eval()
    encoder = model.imu if modality == "imu" else model.pose
    out = [encoder(torch.from_numpy(np.ascontiguousarray(windows[i : i + batch]))).numpy() for i in range(0, len(windows), batch)]
    dim = model.config.embedding_dim
    return np.concatenate(out, axis=0) if out else np.zeros((0, dim), dtype=np.float32)


@torch.no_grad()
def class_logits(model: JointModel, embeddings: np.ndarray) -> np.ndarray:
    return model.logits(torch.from_numpy(embeddings)).numpy()


@dataclass
class Evaluation:
    metrics: dict  # {"clip": {combo: {...}}, "window": {...}}
    confusion: dict  # {(level, combo): ndarray}


def evaluate_clips(model: JointModel, clips: Sequence[PairedClip]) -> Evaluation:
    refs = enumerate_windows(clips)
    imu, pose, labels = stack_windows(clips, refs)
    logits = {"imu": class_logits(model, embed(model, "imu", imu)), "pose": class_logits(model, embed(model, "pose", pose))}
    logits["imu+pose"] = 0.5 * (logits["imu"] + logits["pose"])
    clip_index = np.array([r.clip for r in refs])
    num_classes = len(model.classes)
    clip_labels = np.array([c.label for c in clips])
    metrics: dict = {"clip": {}, "window": {}}
    confusion: dict = {}
    for combo in COMBINATIONS:
        per_window = logits[combo]
        sums = np.zeros((len(clips), num_classes))
        np.add.at(sums, clip_index, per_window)
        counts = np.bincount(clip_index, minlength=len(clips))[:, None]
        clip_pred = (sums / np.maximum(counts, 1)).argmax(axis=1)
        metrics["clip"][combo] = summarise(clip_labels, clip_pred, num_classes)
        confusion[("clip", combo)] = confusion_matrix(clip_labels, clip_pred, num_classes)
        metrics["window"][combo] = summarise(labels, per_window.argmax(axis=1), num_classes)
    return Evaluation(metrics, confusion)


def save_confusion_png(cm: np.ndarray, class_names: Sequence[str], path: Path, title: str) -> None:
    # The object-oriented API without pyplot: no global figure state, no GUI backend.
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    normalised = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig = Figure(figsize=(10, 9), dpi=100)
    ax = fig.add_subplot()
    assert isinstance(ax, Axes)  # matplotlib 3.6 builds the subplot class at run time
    image = ax.imshow(normalised, cmap="Blues", vmin=0.0, vmax=1.0)
    # the Axis methods themselves: matplotlib 3.6's Axes.set_xticks is a wrapper object untyped for checkers
    ax.xaxis.set_ticks(list(range(len(class_names))), labels=list(class_names), rotation=90, fontsize=7)
    ax.yaxis.set_ticks(list(range(len(class_names))), labels=list(class_names), fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            if cm[i, j]:
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=6, color="white" if normalised[i, j] > 0.5 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


def format_metrics(metrics: dict) -> list[str]:
    """One line per level and modality set: macro F1, accuracy and window count."""
    return [
        f"  {level:6s} {combo:9s} macro F1 {m['macroF1']:.3f}  accuracy {m['accuracy']:.3f}  (n={m['count']})"
        for level, combos in metrics.items()
        for combo, m in combos.items()
    ]


class TestSet:
    """Test windows with their clip index, embedded once per model (clip = mean over its windows)."""

    __test__ = False  # not a pytest test class

    def __init__(self, clips: Sequence[PairedClip]) -> None:
        self.clips = list(clips)
        self.refs = enumerate_windows(self.clips)
        self.imu, self.pose, self.labels = stack_windows(self.clips, self.refs)
        self.clip_index = np.array([r.clip for r in self.refs])
        self.clip_labels = np.array([c.label for c in self.clips])

    def embed(self, model: JointModel) -> dict[str, np.ndarray]:
        return {"imu": embed(model, "imu", self.imu), "pose": embed(model, "pose", self.pose)}

    def per_clip(self, scores: np.ndarray) -> np.ndarray:
        sums = np.zeros((len(self.clips), scores.shape[1]))
        np.add.at(sums, self.clip_index, scores)
        return sums / np.maximum(np.bincount(self.clip_index, minlength=len(self.clips)), 1)[:, None]


def evaluate_stream(model: JointModel, recording_dir: Path) -> dict:
    """Window-level metrics on a recording's streams (one decision per hop, no smoothing)."""
    from encoders.splits import load_stream_windows

    return evaluate_stream_set(model, load_stream_windows(recording_dir, model.classes))


def evaluate_stream_set(model: JointModel, data) -> dict:
    """Like :func:`evaluate_stream` on windows already loaded (``splits.StreamSet``)."""
    num_classes = len(model.classes)
    out: dict = {}
    if len(data.imu):
        out["imu"] = summarise(data.imu_labels, class_logits(model, embed(model, "imu", data.imu)).argmax(axis=1), num_classes)
    if len(data.pose):
        out["pose"] = summarise(data.pose_labels, class_logits(model, embed(model, "pose", data.pose)).argmax(axis=1), num_classes)
    if len(data.both_labels):
        fused = 0.5 * (class_logits(model, embed(model, "imu", data.both_imu)) + class_logits(model, embed(model, "pose", data.both_pose)))
        out["imu+pose"] = summarise(data.both_labels, fused.argmax(axis=1), num_classes)
    return out
