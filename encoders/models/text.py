"""Text anchors: where the class prototypes of the joint space start from.

No pretrained text model can be installed on the target machines, so the embedder is
pluggable:

* :class:`HashedNgramEmbedder` (default) turns each class description into hashed
  character n-gram counts and multiplies them by a fixed, seeded Gaussian matrix. It is
  deterministic across machines and Python versions (blake2b, not ``hash()``), and similar
  descriptions ("swipe to the left" / "swipe to the right") start close together.
* :class:`PrecomputedEmbedder` reads embeddings a user made elsewhere (CLIP, a sentence
  encoder) from ``.npy`` ([classes, d] in class order) or ``.json`` (``{class_id: [..]}``
  or a list of rows in class order).

Either way the result is projected to the joint dimension and becomes the *initial value*
of learnable anchors (see ``JointModel``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np


class TextEmbeddingError(ValueError):
    """A text-embedding file is missing, malformed, or does not match the class list."""


class TextEmbedder(Protocol):
    #: recorded in the manifest's ``prototypes.source``
    source: str

    def embed(self, class_ids: Sequence[str], descriptions: Sequence[str]) -> np.ndarray:
        """One row per class, in the given order."""
        ...


class HashedNgramEmbedder:
    source = "learned-from-descriptions"

    def __init__(self, buckets: int = 4096, ngrams: tuple[int, ...] = (3, 4, 5), dim: int = 256, seed: int = 0) -> None:
        self.buckets = buckets
        self.ngrams = ngrams
        self.dim = dim
        self.seed = seed

    def features(self, text: str) -> np.ndarray:
        padded = f" {' '.join(text.lower().split())} "
        counts = np.zeros(self.buckets, dtype=np.float64)
        for n in self.ngrams:
            for i in range(len(padded) - n + 1):
                digest = hashlib.blake2b(padded[i : i + n].encode("utf-8"), digest_size=8).digest()
                counts[int.from_bytes(digest, "little") % self.buckets] += 1.0
        feats = np.log1p(counts)
        norm = np.linalg.norm(feats)
        return feats / norm if norm > 0 else feats

    def embed(self, class_ids: Sequence[str], descriptions: Sequence[str]) -> np.ndarray:
        rng = np.random.default_rng(self.seed)
        projection = rng.standard_normal((self.buckets, self.dim)) / np.sqrt(self.dim)
        feats = np.stack([self.features(d) for d in descriptions])
        return (feats @ projection).astype(np.float32)


class PrecomputedEmbedder:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.source = f"precomputed:{self.path.name}"

    def embed(self, class_ids: Sequence[str], descriptions: Sequence[str]) -> np.ndarray:
        if not self.path.is_file():
            raise TextEmbeddingError(f"{self.path}: text-embedding file not found")
        suffix = self.path.suffix.lower()
        if suffix == ".npy":
            try:
                rows = np.load(self.path, allow_pickle=False)
            except (ValueError, OSError) as err:
                raise TextEmbeddingError(f"{self.path}: not a readable .npy array ({err})") from err
        elif suffix == ".json":
            rows = self._from_json(class_ids)
        else:
            raise TextEmbeddingError(f"{self.path}: expected a .npy or .json file, got {suffix or 'no extension'}")
        rows = np.asarray(rows, dtype=np.float32)
        if rows.ndim != 2 or rows.shape[0] != len(class_ids):
            raise TextEmbeddingError(
                f"{self.path}: expected shape [{len(class_ids)}, d] (one row per class), got {list(rows.shape)}"
            )
        if not np.all(np.isfinite(rows)):
            raise TextEmbeddingError(f"{self.path}: contains NaN or infinite values")
        return rows

    def _from_json(self, class_ids: Sequence[str]) -> np.ndarray:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise TextEmbeddingError(f"{self.path}: not valid JSON ({err})") from err
        if isinstance(data, list):
            return np.asarray(data, dtype=np.float32)
        if not isinstance(data, dict):
            raise TextEmbeddingError(f"{self.path}: expected an object {{class_id: [..]}} or a list of rows")
        unknown = sorted(set(data) - set(class_ids))
        if unknown:
            raise TextEmbeddingError(f"{self.path}: unknown class names {unknown}; the model's classes are {list(class_ids)}")
        missing = [c for c in class_ids if c not in data]
        if missing:
            raise TextEmbeddingError(f"{self.path}: no embedding for classes {missing}")
        return np.asarray([data[c] for c in class_ids], dtype=np.float32)


def make_embedder(spec: str | None) -> TextEmbedder:
    """``None``/``"hashed"`` → the default embedder; anything else is a path to a precomputed file."""
    if spec is None or spec == "hashed":
        return HashedNgramEmbedder()
    return PrecomputedEmbedder(spec)


def project_to_dim(rows: np.ndarray, dim: int, seed: int = 0) -> np.ndarray:
    """Fixed seeded random projection to the joint dimension, rows L2-normalised.

    A random projection keeps the pairwise geometry of the text embeddings (which classes
    are alike) whatever their native width.
    """
    rows = np.asarray(rows, dtype=np.float64)
    rng = np.random.default_rng(seed + 1)
    projection = rng.standard_normal((rows.shape[1], dim)) / np.sqrt(dim)
    out = rows @ projection
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return out.astype(np.float32)
