"""Checkpoints: everything needed to rebuild a JointModel (config, classes, weights, provenance)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from encoders.models.joint import ClassInfo, JointModel, ModelConfig

FORMAT = "mujo-encoders-checkpoint"


def save_checkpoint(model: JointModel, path: Path, extra: dict | None = None) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "format": FORMAT,
            "formatVersion": 1,
            "modelConfig": model.config.to_dict(),
            "classes": [asdict(c) for c in model.classes],
            "textSource": model.text_source,
            "stateDict": model.state_dict(),
            "extra": extra or {},
        },
        path,
    )


def load_checkpoint(path: Path) -> tuple[JointModel, dict]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    data = torch.load(path, map_location="cpu")
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path}: not a {FORMAT} file")
    config = ModelConfig(**data["modelConfig"])
    classes = [ClassInfo(**c) for c in data["classes"]]
    model = JointModel(config, classes, np.zeros((len(classes), config.embedding_dim), dtype=np.float32))
    model.load_state_dict(data["stateDict"])
    model.text_source = data.get("textSource", JointModel.text_source)
    model.eval()
    return model, data.get("extra", {})


def resolve_checkpoint(path: Path) -> Path:
    """A checkpoint file, or an exported model directory whose manifest ships one."""
    path = Path(path)
    if path.is_dir():
        manifest = path / "manifest.json"
        entry = json.loads(manifest.read_text(encoding="utf-8")).get("checkpoint") if manifest.is_file() else None
        if not entry:
            raise FileNotFoundError(f"{path}: no manifest.json with a \"checkpoint\" entry (export it with a checkpoint, or pass a .pt file)")
        return path / entry["file"]
    return path
