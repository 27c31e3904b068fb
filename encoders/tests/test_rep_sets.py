"""Rep sets: exact counts by construction, deterministic, and the bundled fixture rebuilds byte for byte."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from encoders.data.paths import repo_root
from encoders.data.recording import read_recording
from encoders.data.rep_sets import make_rep_fixture, make_rep_sets


def test_sets_have_one_rep_per_clip_and_are_deterministic(tmp_path: Path, datasets: Path) -> None:
    a = make_rep_sets(tmp_path / "a", datasets=datasets, subjects=(1, 2), seed=3)
    b = make_rep_sets(tmp_path / "b", datasets=datasets, subjects=(1, 2), seed=3)
    sets = json.loads((a / "sets.json").read_text())["sets"]
    assert sets == json.loads((b / "sets.json").read_text())["sets"]
    assert len(sets) == 2 * 4 * 6  # subjects x actions x (3 variants x 2)
    for s in sets:
        assert s["count"] == len(s["repEndsNs"]) == len(s["clips"])
        assert 4 <= s["count"] <= 12
        assert s["startNs"] < s["repEndsNs"][0] and s["repEndsNs"][-1] == s["endNs"]
        assert all(x < y for x, y in itertools.pairwise(s["repEndsNs"]))
    rec = read_recording(a)
    assert {label.activity for label in rec.labels} == {"arm_curl", "push", "lunge", "squat"}


def test_bundled_fixture_rebuilds_identically(tmp_path: Path) -> None:
    root = repo_root()
    out = make_rep_fixture(
        tmp_path / "rep-sets",
        recording=root / "recordings" / "demo",
        command="python3 -m encoders make-rep-fixture --recording recordings/demo --out test/fixtures/rep-sets",
    )
    bundled = root / "test" / "fixtures" / "rep-sets"
    for path in sorted(p.relative_to(bundled) for p in bundled.rglob("*") if p.is_file()):
        assert (out / path).read_bytes() == (bundled / path).read_bytes(), path
