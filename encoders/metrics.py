"""Classification metrics (numpy only: scikit-learn is not installable on the target)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)), 1)
    return cm


def macro_f1(cm: np.ndarray) -> float:
    """Mean F1 over classes that occur in the truth or the predictions (absent classes are skipped)."""
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    denom = support + predicted
    present = denom > 0
    f1 = np.where(present, 2 * tp / np.maximum(denom, 1), 0.0)
    return float(f1[present].mean()) if present.any() else 0.0


def accuracy(cm: np.ndarray) -> float:
    total = cm.sum()
    return float(np.trace(cm) / total) if total else 0.0


def summarise(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> dict:
    cm = confusion_matrix(y_true, y_pred, num_classes)
    return {"macroF1": macro_f1(cm), "accuracy": accuracy(cm), "count": int(cm.sum())}


def mean_std(values: Sequence[float]) -> str:
    """``mean ± std`` (population std, 3 decimals) of per-seed figures; "–" for none."""
    arr = np.asarray(values, dtype=np.float64)
    return f"{arr.mean():.3f} ± {arr.std(ddof=0):.3f}" if arr.size else "–"
