"""The command line, run as a newcomer would: ``python3 -m encoders ...`` from the repo root."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from encoders.checkpoint import load_checkpoint, save_checkpoint
from encoders.export import verify_model_dir
from encoders.pairs import paired_from_utd
from encoders.splits import utd_classes
from encoders.train import build_model

REPO = Path(__file__).resolve().parents[2]


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "encoders", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)


def test_help_lists_every_command() -> None:
    proc = run("--help")
    assert proc.returncode == 0, proc.stderr
    for command in ("prepare", "make-recording", "pretrain", "train", "finetune", "evaluate", "export", "train-default", "results"):
        assert command in proc.stdout


def test_export_command_writes_a_valid_model(tmp_path, datasets) -> None:
    from encoders.data.utd_mhad import load_utd_mhad

    torch.manual_seed(0)
    model = build_model(utd_classes(), paired_from_utd(load_utd_mhad(datasets, subjects=[1])))
    checkpoint = tmp_path / "m.pt"
    save_checkpoint(model, checkpoint, {"train": {"seed": 5, "strategy": "joint"}, "command": "python3 -m encoders train ...", "metrics": {"clip": {}}})
    reloaded, extra = load_checkpoint(checkpoint)
    assert extra["train"]["seed"] == 5 and [c.id for c in reloaded.classes] == [c.id for c in model.classes]
    out = tmp_path / "cli-model"
    proc = run("export", "--checkpoint", str(checkpoint), "--out", str(out), "--parity", "auto", "--datasets", str(datasets))
    assert proc.returncode == 0, proc.stderr + proc.stdout
    manifest = verify_model_dir(out)
    assert manifest["name"] == "cli-model" and manifest["training"]["seed"] == 5 and manifest["training"]["strategy"] == "joint"
    assert manifest["training"]["exportCommand"].startswith("python3 -m encoders export")


def test_missing_checkpoint_is_a_clear_error(tmp_path) -> None:
    proc = run("evaluate", "--checkpoint", str(tmp_path / "nope.pt"))
    assert proc.returncode == 2
    assert f"{tmp_path / 'nope.pt'}: checkpoint not found" in proc.stderr


def test_bad_label_fraction_is_rejected_by_the_parser() -> None:
    proc = run("train", "--label-fraction", "150%", "--out", "x.pt")
    assert proc.returncode == 2 and "label fraction must be in" in proc.stderr


def test_without_data_sets_the_user_is_told_what_to_set(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MUJO_DATASETS"}
    proc = subprocess.run(
        [sys.executable, "-m", "encoders", "train", "--steps", "1", "--out", str(tmp_path / "m.pt")],
        cwd=REPO, capture_output=True, text=True, timeout=120, env=env,
    )
    assert proc.returncode == 2 and "set MUJO_DATASETS" in proc.stderr and "--datasets DIR" in proc.stderr, proc.stderr


def test_precomputed_text_file_with_unknown_classes_stops_training(tmp_path, datasets) -> None:
    text = tmp_path / "text.json"
    text.write_text(json.dumps({c.id: [1.0, 0.0] for c in utd_classes()} | {"moonwalk": [0.0, 1.0]}))
    proc = run("train", "--steps", "1", "--text-embeddings", str(text), "--out", str(tmp_path / "m.pt"), "--datasets", str(datasets))
    assert proc.returncode == 2
    assert "unknown class names ['moonwalk']" in proc.stderr


def test_results_page_shows_mean_std_gains_and_goals() -> None:
    from encoders.experiments import best_strategy, render_results

    def metrics(f1: float) -> dict:
        combos = {c: {"macroF1": f1, "accuracy": f1, "count": 10} for c in ("imu", "pose", "imu+pose")}
        return {"clip": combos, "window": combos, "stream": combos}

    runs = []
    for seed, delta in ((0, 0.0), (1, 0.02)):
        for strategy, base in (("supervised", 0.60), ("pretrain-finetune", 0.70), ("joint", 0.65)):
            for fraction in (0.1, 1.0):
                f1 = base + delta + (0.2 if fraction == 1.0 else 0.0)
                runs.append({"strategy": strategy, "fraction": fraction, "seed": seed, "seconds": 10.0, "samplesPerS": 640.0, "metrics": metrics(f1)})
    assert best_strategy(runs) == "pretrain-finetune"
    page = render_results(runs, "python3 -m encoders results", 500, 400, 120.0)
    assert "| supervised | 10% | 0.610 ± 0.010 |" in page
    assert "| 10% | +10.0 | +10.0 | +10.0 |" in page  # pretraining gain in points
    assert "| fused macro F1 | ≥ 0.97 | 0.910 (pretrain-finetune) | no |" in page
    assert "| pretraining gain at 10 % labels | ≥ +5 points | IMU +10.0, pose +10.0, fused +10.0 | yes |" in page
    assert "67.2 %" in page and "0.942" in page and "94 %" in page
