"""Enrollment without retraining: a class is a prototype in the joint space.

This mirrors, step for step, what the gateway does when a site enrolls a class (issue 11), so
the figures the trainer measures with it (RESULTS.md, few-shot protocol) are the gateway's:

1. embed every window of the class's examples with the running encoders (L2-normalised rows);
2. per modality, prototype = L2-normalised mean of all those window embeddings (every window
   of every example counts once; a modality the examples lack gets no prototype of its own);
3. the shared prototype row (what a modality without its own row uses) is the normalised mean
   of the class's modality prototypes;
4. logits for modality m = cos(e_m, P_m[c]) / temperature; fused = mean over the present
   modalities (``fusion.method: mean-logits``);
5. open set: score = the top class's cosine (fused: mean over present modalities of that
   modality's cosine to the class = fused logit x temperature); ``unknown`` when the score is
   below the threshold of the present modality set (:mod:`encoders.openset`).

Pure numpy on embeddings, so it runs on whatever produced them (PyTorch or ONNX).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

MODALITIES = ("imu", "pose")


def normalise_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def class_prototype(embeddings: np.ndarray) -> np.ndarray:
    """Normalised mean of L2-normalised window embeddings [n, D] → [D]."""
    embeddings = np.asarray(embeddings, dtype=np.float64)
    if embeddings.ndim != 2 or embeddings.shape[0] == 0:
        raise ValueError(f"need at least one embedding [n, D] to enroll, got shape {embeddings.shape}")
    return normalise_rows(normalise_rows(embeddings).mean(axis=0))


@dataclass
class PrototypeSet:
    """Class prototypes of a model: a shared row per class plus optional per-modality rows.

    ``modalities[m]`` is [C, D] when any class has its own row for m; rows of classes without
    one are copies of the shared row (that is how the manifest's files are written too).
    """

    class_ids: list[str]
    shared: np.ndarray  # [C, D] float64, L2-normalised rows
    modalities: dict[str, np.ndarray] = field(default_factory=dict)
    #: per class: the modalities whose examples built the prototype (empty: text anchor)
    enrolled: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_anchors(cls, class_ids: Sequence[str], anchors: np.ndarray) -> PrototypeSet:
        return cls(list(class_ids), normalise_rows(anchors), {}, {})

    def for_modality(self, modality: str) -> np.ndarray:
        return self.modalities.get(modality, self.shared)

    def copy(self) -> PrototypeSet:
        return replace(self, class_ids=list(self.class_ids), shared=self.shared.copy(), modalities={m: p.copy() for m, p in self.modalities.items()}, enrolled=dict(self.enrolled))


def enroll(prototypes: PrototypeSet, class_id: str, embeddings: Mapping[str, np.ndarray]) -> PrototypeSet:
    """Add (or replace) ``class_id`` from example window embeddings per modality; returns a new set.

    ``embeddings``: {"imu": [n, D], "pose": [m, D]} — either may be absent or empty.
    """
    per_modality = {m: class_prototype(e) for m, e in embeddings.items() if e is not None and len(e)}
    unknown = sorted(set(per_modality) - set(MODALITIES))
    if unknown:
        raise ValueError(f"unknown modality {unknown}; expected {MODALITIES}")
    if not per_modality:
        raise ValueError(f"class {class_id!r}: no example windows in any modality")
    out = prototypes.copy()
    shared_row = class_prototype(np.stack(list(per_modality.values())))
    if class_id in out.class_ids:
        row = out.class_ids.index(class_id)
    else:
        row = len(out.class_ids)
        out.class_ids.append(class_id)
        out.shared = np.vstack([out.shared, np.zeros((1, out.shared.shape[1]))])
        out.modalities = {m: np.vstack([p, np.zeros((1, p.shape[1]))]) for m, p in out.modalities.items()}
    out.shared[row] = shared_row
    for m in MODALITIES:
        if m in per_modality and m not in out.modalities:
            out.modalities[m] = out.shared.copy()
        if m in out.modalities:
            out.modalities[m][row] = per_modality.get(m, shared_row)
    out.enrolled[class_id] = tuple(m for m in MODALITIES if m in per_modality)
    return out


def remove(prototypes: PrototypeSet, class_id: str) -> PrototypeSet:
    if class_id not in prototypes.class_ids:
        raise KeyError(class_id)
    keep = [i for i, c in enumerate(prototypes.class_ids) if c != class_id]
    out = prototypes.copy()
    out.class_ids = [prototypes.class_ids[i] for i in keep]
    out.shared = out.shared[keep]
    out.modalities = {m: p[keep] for m, p in out.modalities.items()}
    out.enrolled.pop(class_id, None)
    return out


def cosines(prototypes: PrototypeSet, embeddings: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """{modality: [n, C] cosine of each window to each class's prototype of that modality}."""
    return {m: normalise_rows(e) @ prototypes.for_modality(m).T for m, e in embeddings.items() if e is not None}


def fused_cosine(per_modality: Mapping[str, np.ndarray]) -> np.ndarray:
    """Mean over the present modalities (rows paired across modalities) = fused logits x T."""
    if not per_modality:
        raise ValueError("no modality present")
    return np.mean(np.stack(list(per_modality.values())), axis=0)


def decide(cos: np.ndarray, threshold: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(predicted class index per row, -1 where the open-set score < threshold; score per row)."""
    pred = cos.argmax(axis=1)
    score = cos[np.arange(cos.shape[0]), pred]
    if threshold is not None:
        pred = np.where(score < threshold, -1, pred)
    return pred, score
