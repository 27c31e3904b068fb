"""Enrollment (the gateway's algorithm) and the open-set decision, on hand-made embeddings."""

from __future__ import annotations

import numpy as np
import pytest

from encoders.enroll import PrototypeSet, class_prototype, cosines, decide, enroll, fused_cosine, remove
from encoders.openset import calibrate_thresholds, combo_cosines, rejection_rates


def unit(*v: float) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64)
    return a / np.linalg.norm(a)


def base() -> PrototypeSet:
    return PrototypeSet.from_anchors(["a", "b"], np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0]]))


def test_prototype_is_the_normalised_mean_of_normalised_windows() -> None:
    emb = np.array([[2.0, 0, 0, 0], [0, 0, 1.0, 0]])  # the first is not unit length: normalised first
    np.testing.assert_allclose(class_prototype(emb), unit(1, 0, 1, 0))
    with pytest.raises(ValueError, match="at least one embedding"):
        class_prototype(np.zeros((0, 4)))


def test_enroll_adds_per_modality_rows_and_shared_row() -> None:
    protos = enroll(base(), "c", {"imu": np.array([unit(0, 0, 1, 0)]), "pose": np.array([unit(0, 0, 0, 1)])})
    assert protos.class_ids == ["a", "b", "c"] and protos.enrolled["c"] == ("imu", "pose")
    np.testing.assert_allclose(protos.modalities["imu"][2], unit(0, 0, 1, 0))
    np.testing.assert_allclose(protos.modalities["pose"][2], unit(0, 0, 0, 1))
    np.testing.assert_allclose(protos.shared[2], unit(0, 0, 1, 1))
    # known classes keep their anchor in every modality
    np.testing.assert_allclose(protos.modalities["imu"][:2], base().shared)
    # IMU-only examples: the pose row of that class is the shared row (= the IMU prototype)
    imu_only = enroll(base(), "d", {"imu": np.array([unit(0, 0, 1, 0)]), "pose": np.zeros((0, 4))})
    assert imu_only.enrolled["d"] == ("imu",) and "pose" not in imu_only.modalities
    np.testing.assert_allclose(imu_only.for_modality("pose")[2], unit(0, 0, 1, 0))
    with pytest.raises(ValueError, match="no example windows"):
        enroll(base(), "e", {"imu": np.zeros((0, 4))})


def test_replace_and_remove() -> None:
    protos = enroll(base(), "a", {"imu": np.array([unit(0, 0, 1, 0)])})
    assert protos.class_ids == ["a", "b"]
    np.testing.assert_allclose(protos.modalities["imu"][0], unit(0, 0, 1, 0))
    assert remove(protos, "a").class_ids == ["b"]
    with pytest.raises(KeyError):
        remove(protos, "zzz")


def test_fused_decision_and_unknown() -> None:
    protos = enroll(base(), "c", {"imu": np.array([unit(0, 0, 1, 0)]), "pose": np.array([unit(0, 0, 0, 1)])})
    windows = {"imu": np.array([unit(0, 0, 1, 0), unit(1, 1, 0, 0)]), "pose": np.array([unit(0, 0.2, 0, 1), unit(1, 1, 0, 0)])}
    cos = cosines(protos, windows)
    fused = fused_cosine(cos)
    pred, score = decide(fused)
    assert pred.tolist() == [2, 0] or pred.tolist() == [2, 1]
    assert score[0] == pytest.approx(0.5 * (1.0 + float(unit(0, 0.2, 0, 1) @ unit(0, 0, 0, 1))))
    pred, _ = decide(fused, threshold=0.9)
    assert pred.tolist() == [2, -1]  # the second window sits between a and b: unknown


def test_threshold_calibration_and_rates() -> None:
    rng = np.random.default_rng(0)
    known = rng.uniform(0.6, 1.0, 1000)
    thresholds = calibrate_thresholds({"imu": known}, 0.05)
    assert thresholds["imu"] == pytest.approx(0.62, abs=0.01)
    scores = np.concatenate([known, rng.uniform(0.0, 0.5, 100)])
    rates = rejection_rates(scores, np.arange(1100) < 1000, thresholds["imu"])
    assert rates["unknownRejected"] == 1.0 and rates["knownRejected"] == pytest.approx(0.05, abs=0.005)
    combos = combo_cosines(base(), {"imu": np.array([unit(1, 0, 0, 0)]), "pose": np.array([unit(0, 1, 0, 0)])})
    assert set(combos) == {"imu", "pose", "imu+pose"}
    np.testing.assert_allclose(combos["imu+pose"], [[0.5, 0.5]])
