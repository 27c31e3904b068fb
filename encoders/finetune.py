"""Fine-tuning to a site's own classes: extend a model's class list, start new anchors where
the class's examples already sit, and keep rare new classes visible in every batch."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from encoders.enroll import class_prototype, normalise_rows
from encoders.evaluate import embed
from encoders.models.joint import ClassInfo, JointModel
from encoders.pairs import PairedClip, enumerate_windows, stack_windows


def example_embeddings(model: JointModel, clips: Sequence[PairedClip]) -> dict[str, np.ndarray]:
    """Window embeddings of ``clips`` per modality (only the modalities each clip has)."""
    refs = enumerate_windows(clips)
    imu, pose, _ = stack_windows(clips, refs)
    has_imu = np.array([clips[r.clip].has_imu for r in refs], dtype=bool)
    has_pose = np.array([clips[r.clip].has_pose for r in refs], dtype=bool)
    return {"imu": embed(model, "imu", imu[has_imu]), "pose": embed(model, "pose", pose[has_pose])}


def anchor_from_examples(model: JointModel, clips: Sequence[PairedClip]) -> np.ndarray:
    """A new class's anchor: the normalised mean of its examples' per-modality prototypes.

    A hashed-n-gram text anchor of a class the model never saw lands anywhere in the space;
    the examples' own mean starts the class where its windows already are, so fine-tuning
    (and a description-less class) starts from what enrollment would give.
    """
    per = [class_prototype(e) for e in example_embeddings(model, clips).values() if len(e)]
    if not per:
        raise ValueError("no example windows to initialise the anchor from")
    return class_prototype(np.stack(per))


def with_classes(model: JointModel, classes: Sequence[ClassInfo], clips_by_class: Mapping[str, Sequence[PairedClip]]) -> JointModel:
    """A copy of ``model`` whose class list is ``classes``: a class the model knows (same id)
    keeps its anchor, a new one starts from its examples (:func:`anchor_from_examples`)."""
    known = {c.id: i for i, c in enumerate(model.classes)}
    with torch.no_grad():
        old = model.prototypes().numpy()
    rows = []
    for c in classes:
        if c.id in known:
            rows.append(old[known[c.id]])
        else:
            examples = clips_by_class.get(c.id, ())
            if not examples:
                raise ValueError(f"class {c.id!r} is new to the model and has no examples to start its anchor from")
            rows.append(anchor_from_examples(model, examples))
    anchors = normalise_rows(np.stack(rows)).astype(np.float32)
    out = JointModel(copy.deepcopy(model.config), classes, anchors)
    state = {k: v for k, v in model.state_dict().items() if k != "anchors"}
    out.load_state_dict(state, strict=False)
    out.text_source = "mixed" if any(c.id not in known for c in classes) else model.text_source
    out.eval()
    return out


def oversample(clips: Sequence[PairedClip], target_per_class: int) -> list[PairedClip]:
    """Repeat each class's clips up to about ``target_per_class`` so a class with k = 1 example
    is drawn about as often as one with a full training set (batches sample windows uniformly)."""
    by_class: dict[int, list[PairedClip]] = {}
    for c in clips:
        by_class.setdefault(c.label, []).append(c)
    out: list[PairedClip] = []
    for label in sorted(by_class):
        members = by_class[label]
        repeat = max(1, int(round(target_per_class / len(members))))
        out.extend(members * repeat)
    return out
