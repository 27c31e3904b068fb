"""Encoders, text anchors and losses (no dataset needed)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from encoders.losses import info_nce, modality_dropout_masks, text_info_nce
from encoders.models import count_parameters, create_model
from encoders.models.imu import ImuEncoder
from encoders.models.joint import ClassInfo, JointModel, ModelConfig
from encoders.models.text import HashedNgramEmbedder, PrecomputedEmbedder, TextEmbeddingError, make_embedder, project_to_dim

torch.set_num_threads(2)

CLASSES = [
    ClassInfo("swipe_left", "Swipe left", "A person swipes the right arm from right to left."),
    ClassInfo("swipe_right", "Swipe right", "A person swipes the right arm from left to right."),
    ClassInfo("squat", "Squat", "A person squats down and stands back up."),
]


def _pose_batch(rng: np.random.Generator, batch: int = 3) -> torch.Tensor:
    base = rng.uniform(0.3, 0.7, size=(batch, 1, 17, 2))
    motion = rng.normal(0, 0.02, size=(batch, 40, 17, 2)).cumsum(axis=1)
    xy = base + motion
    score = np.ones((batch, 40, 17, 1))
    return torch.from_numpy(np.concatenate([xy, score], axis=3).astype(np.float32))


def test_encoders_emit_unit_rows_and_stay_small() -> None:
    imu, pose = create_model("imu-resnet1d", embedding_dim=64).eval(), create_model("pose-tcn", embedding_dim=64).eval()
    with torch.no_grad():
        e_imu = imu(torch.randn(5, 6, 100) * 5)
        e_pose = pose(_pose_batch(np.random.default_rng(0), 5))
    assert e_imu.shape == (5, 64) and e_pose.shape == (5, 64)
    assert torch.allclose(e_imu.norm(dim=1), torch.ones(5), atol=1e-5)
    assert torch.allclose(e_pose.norm(dim=1), torch.ones(5), atol=1e-5)
    # Kept small so the gateway runs them fast on a Raspberry Pi.
    assert count_parameters(imu) <= 500_000 and count_parameters(pose) <= 500_000


def test_pose_embedding_ignores_where_and_how_big_the_person_is() -> None:
    pose = create_model("pose-tcn").eval()
    x = _pose_batch(np.random.default_rng(1))
    moved = x.clone()
    moved[..., 0:2] = (moved[..., 0:2] - 0.5) * 0.6 + torch.tensor([0.2, 0.1]) + 0.5
    with torch.no_grad():
        assert torch.allclose(pose(x), pose(moved), atol=1e-4)
        # ...but not what the person does: a different motion gives a different embedding.
        other = _pose_batch(np.random.default_rng(2))
        assert not torch.allclose(pose(x), pose(other), atol=1e-2)


def test_imu_normalisation_is_part_of_the_module() -> None:
    imu = create_model("imu-resnet1d").eval()
    assert isinstance(imu, ImuEncoder)
    x = torch.randn(2, 6, 100)
    mean, std = torch.tensor([0.0, 0.0, 9.81, 0, 0, 0]), torch.tensor([3.0, 3.0, 3.0, 1.0, 1.0, 1.0])
    imu.set_normalisation(mean, std)
    raw = x * std.reshape(1, 6, 1) + mean.reshape(1, 6, 1)
    reference = create_model("imu-resnet1d").eval()
    assert isinstance(reference, ImuEncoder)
    reference.load_state_dict(dict(imu.state_dict().items()))
    reference.set_normalisation(torch.zeros(6), torch.ones(6))
    with torch.no_grad():
        assert torch.allclose(imu(raw), reference(x), atol=1e-5)


def test_unknown_model_name_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match="unknown model 'nope'"):
        create_model("nope")


def test_hashed_text_anchors_are_deterministic_and_follow_the_descriptions() -> None:
    ids, descriptions = [c.id for c in CLASSES], [c.description for c in CLASSES]
    a = project_to_dim(HashedNgramEmbedder().embed(ids, descriptions), 64)
    b = project_to_dim(HashedNgramEmbedder().embed(ids, descriptions), 64)
    assert np.array_equal(a, b)
    sim = a @ a.T
    # The two swipes share most of their words; the squat does not.
    assert sim[0, 1] > sim[0, 2] and sim[0, 1] > sim[1, 2]


def test_precomputed_text_embeddings_load_from_npy_and_json(tmp_path) -> None:
    ids, descriptions = [c.id for c in CLASSES], [c.description for c in CLASSES]
    rows = np.arange(3 * 5, dtype=np.float32).reshape(3, 5) + 1
    np.save(tmp_path / "text.npy", rows)
    assert np.array_equal(PrecomputedEmbedder(tmp_path / "text.npy").embed(ids, descriptions), rows)
    (tmp_path / "text.json").write_text(json.dumps({cid: rows[i].tolist() for i, cid in reversed(list(enumerate(ids)))}))
    embedder = make_embedder(str(tmp_path / "text.json"))
    assert np.array_equal(embedder.embed(ids, descriptions), rows)  # reordered to class order
    assert embedder.source == "precomputed:text.json"


def test_precomputed_text_embeddings_name_the_problem(tmp_path) -> None:
    ids, descriptions = [c.id for c in CLASSES], [c.description for c in CLASSES]
    (tmp_path / "unknown.json").write_text(json.dumps({"swipe_left": [1.0], "swipe_right": [1.0], "squat": [1.0], "jump": [1.0]}))
    with pytest.raises(TextEmbeddingError, match=r"unknown.json: unknown class names \['jump'\]"):
        PrecomputedEmbedder(tmp_path / "unknown.json").embed(ids, descriptions)
    (tmp_path / "missing.json").write_text(json.dumps({"swipe_left": [1.0]}))
    with pytest.raises(TextEmbeddingError, match=r"no embedding for classes \['swipe_right', 'squat'\]"):
        PrecomputedEmbedder(tmp_path / "missing.json").embed(ids, descriptions)
    np.save(tmp_path / "short.npy", np.ones((2, 4), dtype=np.float32))
    with pytest.raises(TextEmbeddingError, match=r"short.npy: expected shape \[3, d\]"):
        PrecomputedEmbedder(tmp_path / "short.npy").embed(ids, descriptions)
    with pytest.raises(TextEmbeddingError, match="not found"):
        PrecomputedEmbedder(tmp_path / "absent.npy").embed(ids, descriptions)


def test_info_nce_prefers_aligned_pairs() -> None:
    a = torch.nn.functional.normalize(torch.randn(16, 8), dim=1)
    aligned = info_nce(a, a, 0.1)
    shuffled = info_nce(a, a[torch.randperm(16, generator=torch.Generator().manual_seed(0))], 0.1)
    assert aligned < shuffled


def test_text_info_nce_is_low_when_embeddings_sit_on_their_anchor() -> None:
    protos = torch.nn.functional.normalize(torch.randn(3, 8), dim=1)
    labels = torch.tensor([0, 0, 1, 2, 2])
    on_anchor = text_info_nce(protos[labels], labels, protos, 0.1)
    wrong = text_info_nce(protos[(labels + 1) % 3], labels, protos, 0.1)
    assert on_anchor < wrong


def test_modality_dropout_never_drops_both() -> None:
    imu, pose = modality_dropout_masks(1000, torch.Generator().manual_seed(0))
    assert bool((imu | pose).all())
    assert 0.15 < (~pose).float().mean() < 0.35 and 0.15 < (~imu).float().mean() < 0.35


def test_joint_model_logits_are_cosine_over_temperature() -> None:
    anchors = project_to_dim(HashedNgramEmbedder().embed([c.id for c in CLASSES], [c.description for c in CLASSES]), 64)
    model = JointModel(ModelConfig(initial_temperature=0.1), CLASSES, anchors)
    e = torch.nn.functional.normalize(torch.randn(4, 64), dim=1)
    expected = e @ torch.nn.functional.normalize(torch.from_numpy(anchors), dim=1).t() / 0.1
    assert torch.allclose(model.logits(e), expected, atol=1e-4)
    assert model.temperature() == pytest.approx(0.1, rel=1e-5)
