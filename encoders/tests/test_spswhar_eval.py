"""sp-sw-har IMU-only evaluation and watch↔phone pretraining (encoders/spswhar_eval.py)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch

from encoders.data.spswhar import DEFAULT_WINDOW, load_spswhar, sequence_windows
from encoders.spswhar_eval import (
    TEST_SUBJECTS,
    TRAIN_SUBJECTS,
    finetune,
    pretrain,
    split_sequences,
    spsw_model,
    spswhar_pool,
    stratified_anchors,
)

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def sequences(datasets: Path):
    # One training and one test subject keep the module fast; the split logic is the same.
    return load_spswhar(datasets, subjects=[TRAIN_SUBJECTS[0], TEST_SUBJECTS[0]])


@pytest.fixture(scope="module")
def pool(sequences):
    train, _ = split_sequences(sequences)
    return spswhar_pool(train)


def test_split_has_no_subject_overlap_and_covers_every_subject(datasets: Path, full_data: bool, sequences, pool) -> None:
    assert not set(TRAIN_SUBJECTS) & set(TEST_SUBJECTS)
    assert set(TRAIN_SUBJECTS) | set(TEST_SUBJECTS) == set(range(1, 24))
    folders = {int(p.name[1:]) for p in (datasets / "sp-sw-har").glob("s[0-9][0-9]") if p.is_dir()}
    assert folders == set(range(1, 24)) if full_data else folders <= set(range(1, 24))
    train, test = split_sequences(sequences)
    assert {s.subject for s in train} == {TRAIN_SUBJECTS[0]} and {s.subject for s in test} == {TEST_SUBJECTS[0]}
    # The training pool is built from training subjects only.
    assert pool.subjects == frozenset({TRAIN_SUBJECTS[0]})
    with pytest.raises(ValueError, match="overlap"):
        split_sequences(sequences, train=[1, 2], test=[2, 3])


def test_watch_and_phone_pairs_are_time_aligned(sequences, pool) -> None:
    train, _ = split_sequences(sequences)
    assert pool.paired.size > 0.9 * pool.x.shape[0]
    # Every pair row is the phone's own window ending at the watch window's end time.
    for k in range(0, pool.paired.size, 97):
        row = int(pool.paired[k])
        seq = train[int(pool.seq[row])]
        end_p, x_p, _ = sequence_windows(seq, "phone", _fine())
        match = np.flatnonzero(end_p == pool.end_ns[row])
        assert match.size == 1
        assert np.array_equal(pool.partner[k], x_p[match[0]].T)
    # The same person's two devices move together: averaged over the subject's executions,
    # the correlation of the two devices' per-window motion energy peaks within ±0.5 s of
    # the pairing (a pairing off by a hop or more would peak elsewhere).
    lags = list(range(-30, 31))
    curves = []
    for s in np.unique(pool.seq):
        here = pool.seq[pool.paired] == s
        watch = np.linalg.norm(pool.x[pool.paired[here]][:, 0:3, :], axis=1).std(axis=1)
        phone = np.linalg.norm(pool.partner[here][:, 0:3, :], axis=1).std(axis=1)
        curves.append([np.corrcoef(watch[max(0, lag):len(watch) + min(0, lag)], phone[max(0, -lag):len(phone) - max(0, lag)])[0, 1] for lag in lags])
    curve = np.nanmean(np.asarray(curves), axis=0)
    assert abs(lags[int(np.argmax(curve))]) <= 5, curve
    assert curve.max() - np.median(curve) > 0.3, curve


def test_anchors_are_the_gateways_windows(sequences, pool) -> None:
    train, _ = split_sequences(sequences)
    end, x, y = sequence_windows(train[0], "watch", DEFAULT_WINDOW)
    first = pool.anchors[pool.seq[pool.anchors] == 0]
    labelled = y >= 0
    assert np.array_equal(pool.end_ns[first], end[labelled])
    assert np.array_equal(pool.x[first], np.transpose(x[labelled], (0, 2, 1)))
    chosen = stratified_anchors(pool, 0.1, 5, seed=0)
    assert set(pool.anchor_labels[chosen].tolist()) == set(pool.anchor_labels.tolist())
    assert abs(chosen.size - 0.1 * pool.anchors.size) <= 5


def test_tiny_runs_loss_falls(pool) -> None:
    out = io.StringIO()
    _, history, _, _ = pretrain(pool, steps=30, seed=0, out=out, batch_size=32)
    assert history[-1]["loss"] < history[0]["loss"], history
    model = spsw_model(pool, seed=0)
    history, _, samples, labelled = finetune(model, pool, 1.0, steps=30, seed=0, lr=3e-3, phase="tiny", out=out, batch_size=32)
    assert history[-1]["loss"] < 0.8 * history[0]["loss"], history
    assert labelled == pool.anchors.size and samples == 2 * 30 * 32
    assert "[pretrain]" in out.getvalue() and "[tiny]" in out.getvalue()


def _fine():
    from encoders.data.windows import WindowSpec

    return WindowSpec(length_s=2.0, hop_s=0.1, rate_hz=50.0)
