"""The few-shot protocol end to end with a handful of steps (figures meaningless, paths real).
Needs the full UTD-MHAD (calibration uses subject 7): skipped without $MUJO_DATASETS."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from encoders.fewshot import HELD_OUT_ACTIONS, METHODS, FewshotRun, FewshotSteps, render, run_fewshot, write_section


@pytest.mark.full_data("the protocol holds out 7 of UTD-MHAD's classes across all 8 subjects")
def test_protocol_runs_and_renders(datasets: Path, tmp_path: Path) -> None:
    wrist = [a for a in HELD_OUT_ACTIONS if a <= 21]
    assert wrist and len(wrist) < len(HELD_OUT_ACTIONS)  # both wrist and thigh actions are new
    steps = FewshotSteps(base=4, pretrain=2, finetune=2, scratch=2)
    results = tmp_path / "RESULTS.md"
    results.write_text("# Results\n\nkept\n", encoding="utf-8")
    raw = run_fewshot(FewshotRun(datasets=datasets, raw=tmp_path / "raw.json", results_md=results, seeds=(0,), shots=(1,), steps=steps, cache=None), "test")
    run = raw["runs"][0]
    assert set(METHODS) <= set(run["shots"]["1"])
    for method in METHODS:
        for combo in ("imu", "pose", "imu+pose"):
            assert 0.0 <= run["shots"]["1"][method]["clip"][combo]["new"] <= 1.0
    assert set(run["openSet"]["thresholds"]) == {"imu", "pose", "imu+pose"}
    assert run["timing"]["enrollOneClassK1"]["medianSeconds"] < 5.0
    text = results.read_text(encoding="utf-8")
    assert text.startswith("# Results\n\nkept") and "## New classes from a few examples" in text
    write_section(results, render(json.loads((tmp_path / "raw.json").read_text())))  # replaced, not appended twice
    assert results.read_text(encoding="utf-8").count("## New classes from a few examples") == 1
