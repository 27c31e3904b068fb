"""The virtual-IMU block: which rows it shows and what it compares the virtual pairs with."""

from __future__ import annotations

import json
from pathlib import Path

from encoders.results_md import VIRTUAL_IMU_BLOCK
from encoders.virtual_pretrain import CONTROL, STRATEGY, VirtualImuRun, render_from_raw


def _run(strategy: str, fraction: float, seed: int, imu: float) -> dict:
    clip = {"imu": {"macroF1": imu, "accuracy": imu}, "pose": {"macroF1": 0.8, "accuracy": 0.8}, "imu+pose": {"macroF1": 0.9, "accuracy": 0.9}}
    return {"strategy": strategy, "fraction": fraction, "seed": seed, "seconds": 10.0, "metrics": {"clip": clip}}


def _write(path: Path, command: str, runs: list[dict]) -> None:
    path.write_text(json.dumps({"command": command, "fidelity": {}, "runs": runs}), encoding="utf-8")


def test_gain_is_taken_against_the_rerun_control_when_there_is_one(tmp_path: Path) -> None:
    run = VirtualImuRun(datasets=None, seeds=(0, 1), fractions=(0.1,), out=tmp_path / "R.md", raw=tmp_path / "v.json", control_raw=tmp_path / "c.json", baseline_raw=tmp_path / "main.json")
    _write(run.baseline_raw, "main", [_run("pretrain-finetune", 0.1, 0, 0.50), _run("pretrain-finetune", 0.1, 1, 0.50), _run("pretrain-finetune", 0.1, 2, 0.0)])
    _write(run.raw, "virtual cmd", [_run(STRATEGY, 0.1, 0, 0.80), _run(STRATEGY, 0.1, 1, 0.70)])
    without_control = render_from_raw(run)
    assert "| 10% | pretrain-finetune (main table) | +25.0 | +0.0 | +0.0 | 2 of 2 |" in without_control
    _write(run.control_raw, "control cmd", [_run(CONTROL, 0.1, 0, 0.75), _run(CONTROL, 0.1, 1, 0.75)])
    text = render_from_raw(run)
    assert f"| 10% | {CONTROL} | +0.0 | +0.0 | +0.0 | 1 of 2 |" in text
    assert "`virtual cmd` and `control cmd`" in text
    assert "Over 6 clip-level F1 figures the rerun differs from the main table by at most 25.00 points" in text
    # only the main table's seeds that the virtual runs have (0, 1; not 2)
    assert "| pretrain-finetune | 10% | 0,1 | 0.500 ± 0.000 |" in text
    block = VIRTUAL_IMU_BLOCK.wrap(text)
    assert VIRTUAL_IMU_BLOCK.find(block) == block
