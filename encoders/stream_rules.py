"""Causal decision rules over a stream's per-hop class probabilities (one subject, in hop order).

Every rule turns ``probs`` [T, C] (softmax of the fused or single-modality logits, one row per
0.5 s hop) into the class each hop is *shown as* — ``NONE`` where no activity is shown — and
states its latency: how many hops after a hop's window ends its decision is final. The
gateway runs the same rules (gateway/pipeline/stages/decide.ts, checked against golden
vectors from :func:`golden_cases`).

* ``raw``: argmax of every hop (latency 0): what RESULTS.md's stream level scored so far.
* ``hysteresis``: the gateway's earlier rule (gateway/pipeline/stages/smooth.ts): an EMA of
  the probabilities, enter/exit thresholds, a start/change/end confirmed only after it held
  for ``dwell_hops``; the events are dated back to the first hop that met the condition, so
  the timeline they describe is what is scored (latency ``dwell_hops``).
* ``hmm``: an online HMM forward filter whose hidden state is the activity, with a sticky
  self-transition ``stay`` (activities last several hops) and the classifier's probabilities
  raised to ``sharpness`` as emission likelihoods (latency 0).
* ``hmm`` with ``lag_hops`` = k > 0: fixed-lag smoothing — the decision for hop t is taken at
  hop t + k from the forward belief at t and the evidence of the k hops after it, so a change
  point is placed where the later hops say it was (latency k).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

#: a hop shown as no activity (the hysteresis rule before a start or after an end)
NONE = -1

RuleKind = Literal["raw", "hysteresis", "hmm"]


@dataclass(frozen=True)
class DecisionRule:
    """One rule and its parameters (the fields the gateway's ``decision`` option carries)."""

    kind: RuleKind
    #: hmm: probability of staying in the same activity from one hop to the next
    stay: float = 0.9
    #: hmm: exponent of the classifier probabilities used as emission likelihoods
    sharpness: float = 1.0
    #: hmm: hops of look-ahead before a hop's decision is final (0 = forward filter)
    lag_hops: int = 0
    #: hysteresis (the gateway's defaults, config pipeline.smoothing)
    ema_alpha: float = 0.5
    enter: float = 0.5
    exit: float = 0.35
    dwell_hops: int = 2

    def __post_init__(self) -> None:
        if self.kind == "hmm" and not (0.0 < self.stay < 1.0 and self.sharpness > 0.0 and self.lag_hops >= 0):
            raise ValueError(f"hmm rule needs 0 < stay < 1, sharpness > 0, lag_hops >= 0; got {self}")
        if self.kind == "hysteresis" and not (0.0 < self.ema_alpha <= 1.0 and self.exit <= self.enter and self.dwell_hops >= 0):
            raise ValueError(f"hysteresis rule needs 0 < ema_alpha <= 1, exit <= enter, dwell_hops >= 0; got {self}")

    @property
    def latency_hops(self) -> int:
        return self.lag_hops if self.kind == "hmm" else self.dwell_hops if self.kind == "hysteresis" else 0

    def label(self) -> str:
        if self.kind == "hmm":
            return f"hmm stay={self.stay:g} sharpness={self.sharpness:g} lag={self.lag_hops}"
        if self.kind == "hysteresis":
            return f"hysteresis α={self.ema_alpha:g} enter={self.enter:g} exit={self.exit:g} dwell={self.dwell_hops}"
        return "raw"

    def to_json(self) -> dict:
        """The parameters the gateway needs, camelCase (gateway/pipeline/stages/decide.ts)."""
        if self.kind == "hmm":
            return {"kind": "hmm", "stay": self.stay, "sharpness": self.sharpness, "lagHops": self.lag_hops}
        if self.kind == "hysteresis":
            d = asdict(self)
            return {"kind": "hysteresis", "emaAlpha": d["ema_alpha"], "enter": d["enter"], "exit": d["exit"], "dwellHops": d["dwell_hops"]}
        return {"kind": "raw"}


def decide(rule: DecisionRule, probs: np.ndarray) -> np.ndarray:
    """The class each hop is shown as (``NONE`` = no activity), [T] int64."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2:
        raise ValueError(f"probs must be [hops, classes], got shape {probs.shape}")
    if rule.kind == "raw":
        return probs.argmax(axis=1).astype(np.int64) if len(probs) else np.zeros(0, dtype=np.int64)
    if rule.kind == "hysteresis":
        return _hysteresis(rule, probs)
    return _hmm(rule, probs)


def _sticky(v: np.ndarray, stay: float) -> np.ndarray:
    """``A^T v`` for the sticky transition matrix (``stay`` on the diagonal, the rest spread evenly)."""
    c = v.shape[-1]
    move = (1.0 - stay) / (c - 1) if c > 1 else 0.0
    return (stay - move) * v + move * v.sum(axis=-1, keepdims=True)


def _hmm(rule: DecisionRule, probs: np.ndarray) -> np.ndarray:
    t_len, c = probs.shape
    out = np.zeros(t_len, dtype=np.int64)
    if t_len == 0:
        return out
    # floor: a class the classifier gives exactly 0 must stay reachable
    like = np.maximum(probs, 1e-12) ** rule.sharpness
    forward = np.zeros((t_len, c))
    belief = np.full(c, 1.0 / c)
    for t in range(t_len):
        b = (belief if t == 0 else _sticky(belief, rule.stay)) * like[t]
        belief = b / b.sum()
        forward[t] = belief
    k = rule.lag_hops
    for t in range(t_len):
        # decided at hop min(t + k, last): the stream's end makes the last hops final sooner
        end = min(t + k, t_len - 1)
        beta = np.ones(c)
        for u in range(end, t, -1):
            beta = _sticky(like[u] * beta, rule.stay)  # A is symmetric, so A beta = A^T beta
            beta /= beta.sum()
        out[t] = int(np.argmax(forward[t] * beta))
    return out


def _hysteresis(rule: DecisionRule, probs: np.ndarray) -> np.ndarray:
    """smooth.ts's step(), hop by hop; returns the timeline its events describe."""
    t_len = len(probs)
    out = np.full(t_len, NONE, dtype=np.int64)
    ema: np.ndarray | None = None
    current = NONE
    candidate: tuple[int, int] | None = None  # (class, first hop)
    leaving: tuple[int, int] | None = None

    def dwelt(prev: tuple[int, int] | None, cls: int, t: int) -> tuple[tuple[int, int], bool]:
        p = prev if prev is not None and prev[0] == cls else (cls, t)
        return p, t - p[1] >= rule.dwell_hops

    for t in range(t_len):
        p = probs[t]
        ema = p.astype(np.float32) if ema is None else (rule.ema_alpha * p + (1 - rule.ema_alpha) * ema).astype(np.float32)
        assert ema is not None
        top = int(np.argmax(ema))
        top_p = float(ema[top])
        out[t] = current
        if current == NONE:
            if top_p < rule.enter:
                candidate = None
                continue
            candidate, ok = dwelt(candidate, top, t)
            if ok:
                current = top
                out[candidate[1] : t + 1] = top  # the event dates the start back to that hop
                candidate = None
            continue
        if top != current and top_p >= rule.enter:
            candidate, ok = dwelt(candidate, top, t)
            if ok:
                current = top
                out[candidate[1] : t + 1] = top
                candidate = None
                leaving = None
            continue
        candidate = None
        if float(ema[current]) >= rule.exit:
            leaving = None
            continue
        leaving, ok = dwelt(leaving, current, t)
        if ok:
            out[leaving[1] : t + 1] = NONE
            current = NONE
            candidate = None
            leaving = None
    return out


def macro_f1_with_none(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> dict:
    """Macro F1 and accuracy of labelled hops; ``NONE`` predictions count as one more (always wrong)
    class, as the gateway's scorer (test/helpers/scoring.ts) counts a hop without an activity."""
    from encoders.metrics import accuracy, confusion_matrix, macro_f1

    pred = np.where(np.asarray(y_pred) == NONE, num_classes, y_pred)
    cm = confusion_matrix(np.asarray(y_true), pred, num_classes + 1)
    return {"macroF1": macro_f1(cm), "accuracy": accuracy(cm), "count": int(cm.sum())}
