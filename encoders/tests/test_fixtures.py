"""The bundled data fixtures are the documented real subset, byte for byte."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from encoders.data.paths import fixtures_root
from encoders.data.utd_mhad import CROSS_SUBJECT_TEST, CROSS_SUBJECT_TRAIN, load_utd_mhad
from encoders.tools import make_fixtures


def _sums(folder: Path) -> dict[str, str]:
    lines = (folder / "SHA256SUMS").read_text(encoding="utf-8").splitlines()
    return {name.removeprefix("./"): digest for digest, name in (line.split(maxsplit=1) for line in lines if line.strip())}


@pytest.mark.parametrize("fixture", make_fixtures.fixtures(), ids=lambda f: f.name)
def test_every_file_is_listed_with_its_hash_and_provenance(fixture: make_fixtures.Fixture) -> None:
    folder = fixtures_root() / fixture.name
    sums = _sums(folder)
    assert sorted(sums) == sorted(fixture.data_files)
    for name, digest in sums.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name
    provenance = (folder / "PROVENANCE.md").read_text(encoding="utf-8")
    assert "Licence" in provenance and "Cite" in provenance and "make_fixtures" in provenance


def test_fixtures_stay_small() -> None:
    size = sum(p.stat().st_size for p in fixtures_root().rglob("*") if p.is_file())
    assert size < 4_000_000, f"bundled fixtures are {size / 1e6:.1f} MB"


def test_utd_fixture_has_a_train_and_a_test_subject_every_class_and_both_placements() -> None:
    clips = load_utd_mhad(fixtures_root())
    keys = [(c.action, c.subject, c.trial) for c in clips]
    expected = [(a, s, t) for a in make_fixtures.UTD_ACTIONS for s in make_fixtures.UTD_SUBJECTS for t in make_fixtures.UTD_TRIALS]
    assert keys == sorted(expected)
    subjects = {c.subject for c in clips}
    assert subjects & set(CROSS_SUBJECT_TRAIN) and subjects & set(CROSS_SUBJECT_TEST)
    assert {c.placement for c in clips} == {"wrist", "thigh"}
    assert len({c.action for c in clips}) == 27


@pytest.mark.full_data("rebuilds the bundled fixtures from them")
def test_fixtures_rebuild_identically_from_the_full_data(datasets: Path, tmp_path: Path) -> None:
    make_fixtures.build(datasets, tmp_path)
    assert make_fixtures.differences(tmp_path, fixtures_root()) == []
