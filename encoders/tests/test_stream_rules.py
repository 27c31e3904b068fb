"""The stream decision rules (encoders/stream_rules.py) on hand-built probability sequences."""

from __future__ import annotations

import numpy as np
import pytest

from encoders.stream_decide import golden_cases, rule_from_json
from encoders.stream_rules import NONE, DecisionRule, decide, macro_f1_with_none


def confident(classes: list[int], c: int = 4, p: float = 0.85) -> np.ndarray:
    """One row per hop, ``p`` on the given class and the rest spread evenly."""
    out = np.full((len(classes), c), (1 - p) / (c - 1))
    out[np.arange(len(classes)), classes] = p
    return out


def test_raw_is_the_argmax_of_every_hop() -> None:
    probs = confident([0, 1, 1, 3, 2])
    assert decide(DecisionRule("raw"), probs).tolist() == [0, 1, 1, 3, 2]


def test_sticky_filter_ignores_a_one_hop_blip_that_raw_follows() -> None:
    seq = [0] * 8 + [2] + [0] * 8
    probs = confident(seq, p=0.6)
    assert decide(DecisionRule("raw"), probs)[8] == 2
    assert decide(DecisionRule("hmm", stay=0.95), probs).tolist() == [0] * 17


def test_without_stickiness_the_filter_is_raw() -> None:
    # stay = 1/C makes every transition equally likely: the belief is the current hop's probabilities
    probs = confident([0, 1, 2, 3, 0, 2], p=0.7)
    assert decide(DecisionRule("hmm", stay=0.25), probs).tolist() == [0, 1, 2, 3, 0, 2]


def test_fixed_lag_places_the_change_where_it_happened_the_filter_late() -> None:
    seq = [0] * 10 + [1] * 10
    probs = confident(seq, p=0.5)
    filtered = decide(DecisionRule("hmm", stay=0.9, lag_hops=0), probs)
    lagged = decide(DecisionRule("hmm", stay=0.9, lag_hops=2), probs)
    assert int(np.argmax(filtered == 1)) > 10, "a sticky filter needs a few hops of evidence to switch"
    assert lagged.tolist() == seq, "the look-ahead moves the switch back to the change point"


def test_lag_decisions_at_the_stream_end_use_what_there_is() -> None:
    probs = confident([0, 0, 1], p=0.9)
    assert decide(DecisionRule("hmm", stay=0.5, lag_hops=5), probs).tolist() == [0, 0, 1]


def test_hysteresis_dates_a_start_back_and_shows_nothing_below_the_threshold() -> None:
    rule = DecisionRule("hysteresis", ema_alpha=1.0, enter=0.5, exit=0.35, dwell_hops=2)
    low = np.full((3, 4), 0.25)
    probs = np.concatenate([low, confident([1] * 6, p=0.9), low])
    out = decide(rule, probs)
    # started on hop 3 (confirmed at hop 5, dated back); the end is dated back to hop 9 (confirmed at 11)
    assert out.tolist() == [NONE] * 3 + [1] * 6 + [NONE] * 3


def test_hysteresis_change_needs_the_dwell() -> None:
    rule = DecisionRule("hysteresis", ema_alpha=1.0, enter=0.5, exit=0.35, dwell_hops=2)
    probs = confident([0] * 5 + [1] + [0] * 3 + [1] * 4, p=0.9)
    out = decide(rule, probs)
    assert out[5] == 0, "a single hop of another class does not take over"
    assert out[9:].tolist() == [1] * 4


@pytest.mark.parametrize(
    "rule",
    [
        {"kind": "hmm", "stay": 1.0},
        {"kind": "hmm", "stay": 0.9, "sharpness": 0.0},
        {"kind": "hmm", "stay": 0.9, "lag_hops": -1},
        {"kind": "hysteresis", "enter": 0.3, "exit": 0.5},
    ],
)
def test_bad_parameters_are_refused(rule: dict) -> None:
    with pytest.raises(ValueError):
        DecisionRule(**rule)


def test_a_hop_shown_as_no_activity_counts_as_wrong() -> None:
    y = np.array([0, 0, 1, 1])
    assert macro_f1_with_none(y, np.array([0, 0, 1, 1]), 2)["macroF1"] == 1.0
    partial = macro_f1_with_none(y, np.array([0, NONE, 1, 1]), 2)
    assert partial["accuracy"] == 0.75
    assert partial["macroF1"] < 1.0


def test_golden_cases_round_trip_the_rule_parameters_and_are_deterministic() -> None:
    cases = golden_cases()
    assert golden_cases() == cases
    for case in cases:
        rule = rule_from_json(case["rule"])
        assert rule.to_json() == case["rule"]
        assert decide(rule, np.asarray(case["probabilities"], dtype=np.float64)).tolist() == case["decisions"]
    assert {c["rule"]["kind"] for c in cases} == {"raw", "hysteresis", "hmm"}


def test_tuning_prefers_a_sticky_rule_on_a_noisy_segmented_stream() -> None:
    from encoders.stream_decide import SubjectSequence, score, tune

    rng = np.random.default_rng(0)
    truth = np.repeat(rng.integers(0, 4, size=12), 6)
    logits = rng.normal(0.0, 1.0, size=(len(truth), 4)) + 1.2 * np.eye(4)[truth]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    combos = ("imu", "pose", "imu+pose")
    seq = SubjectSequence(dict.fromkeys(combos, probs), dict.fromkeys(combos, truth))
    rule, f1 = tune(2, [[seq]], 4)
    assert rule.kind == "hmm" and rule.lag_hops == 2
    assert f1 > score(DecisionRule("raw"), [seq], "imu", 4)["macroF1"]
