"""The idea-rows block: rows per idea, gains against the control on common seeds, merged raw file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from encoders.idea_rows import IdeaRun, render_block
from encoders.results_md import IDEAS_BLOCK


def _run(idea: str, fraction: float, seed: int, fused: float, demo: float) -> dict:
    clip = {c: {"macroF1": fused, "accuracy": fused} for c in ("imu", "pose", "imu+pose")}
    decided = {c: {"macroF1": demo, "accuracy": demo} for c in ("imu", "pose", "imu+pose")}
    return {"strategy": idea, "fraction": fraction, "seed": seed, "seconds": 10.0, "metrics": {"clip": clip, "stream": decided, "streamDecided": decided}}


def test_gains_are_taken_against_the_control_on_the_seeds_both_have(tmp_path: Path) -> None:
    raw = {
        "rule": {"kind": "hmm", "stay": 0.6, "sharpness": 0.25, "lagHops": 2},
        "ideas": {
            "control": {"command": "control cmd", "runs": [_run("control", 1.0, 0, 0.90, 0.80), _run("control", 1.0, 1, 0.92, 0.80)]},
            "geometry": {"command": "geometry cmd", "runs": [_run("geometry", 1.0, 1, 0.95, 0.85)]},
        },
    }
    run = IdeaRun(datasets=None, out=tmp_path / "R.md", raw=tmp_path / "ideas.json")
    text = render_block(raw, run)
    assert "| geometry | 100% | 1 | +3.0 | +3.0 | +3.0 | +5.0 | +5.0 | +5.0 | 1 of 1 |" in text
    assert "| control (pretrain-finetune, rerun (unchanged recipe)) | 100% | 0,1 | 0.910 ± 0.010 |" in text
    assert "`control cmd`; `geometry cmd`" in text
    block = IDEAS_BLOCK.wrap(text)
    assert IDEAS_BLOCK.find(block) == block
    json.dumps(raw)


def test_an_unknown_idea_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown idea 'mirror'"):
        IdeaRun(datasets=None, idea="mirror")


def test_the_pretraining_gain_is_taken_against_the_supervised_rerun_when_there_is_one(tmp_path: Path) -> None:
    raw = {
        "ideas": {
            "control": {"command": "c", "runs": [_run("control", 0.1, 0, 0.80, 0.7)]},
            "spswhar-imu": {"command": "s", "runs": [_run("spswhar-imu", 0.1, 0, 0.84, 0.7)]},
        }
    }
    run = IdeaRun(datasets=None, out=tmp_path / "R.md", raw=tmp_path / "ideas.json")
    assert "main table's supervised baseline" in render_block(raw, run)
    raw["ideas"]["supervised"] = {"command": "b", "runs": [_run("supervised", 0.1, 0, 0.75, 0.6)]}
    text = render_block(raw, run)
    assert "over the supervised baseline rerun by this code (row `supervised`) (same seeds; aim ≥ +5): control +5.0, spswhar-imu +9.0." in text
    # the baseline is a row of its own, never a "gain over the control" row
    assert "| supervised | 10% |" not in text and "| supervised (supervised baseline, rerun (no pretraining)) | 10% | 0 |" in text


def test_an_idea_is_adopted_only_above_the_controls_spread_without_losing_pose_or_the_demo(tmp_path: Path) -> None:
    control = [_run("control", 1.0, 0, 0.94, 0.86), _run("control", 1.0, 1, 0.96, 0.86)]  # spread 1.0 point
    run = IdeaRun(datasets=None, out=tmp_path / "R.md", raw=tmp_path / "ideas.json")

    def verdict(runs: list[dict]) -> str:
        return render_block({"ideas": {"control": {"command": "c", "runs": control}, "geometry": {"command": "g", "runs": runs}}}, run)

    assert "Met by: geometry." in verdict([_run("geometry", 1.0, 0, 0.97, 0.87), _run("geometry", 1.0, 1, 0.97, 0.87)])
    assert "Met by none" in verdict([_run("geometry", 1.0, 0, 0.955, 0.87), _run("geometry", 1.0, 1, 0.955, 0.87)])  # +0.5 < spread
    assert "Met by none" in verdict([_run("geometry", 1.0, 0, 0.97, 0.85), _run("geometry", 1.0, 1, 0.97, 0.85)])  # demo worse
