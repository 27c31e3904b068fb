"""Where the trainer finds its inputs.

Datasets are never copied into the repository; they live next to it in
``<repo>/../shared/datasets`` (the layout CI uses), or wherever ``MUJO_DATASETS`` points.
"""

from __future__ import annotations

import os
from pathlib import Path

DATASETS_ENV = "MUJO_DATASETS"


def repo_root() -> Path:
    """The repository root (the directory that holds the ``encoders`` package)."""
    return Path(__file__).resolve().parents[2]


def datasets_root() -> Path:
    """``$MUJO_DATASETS`` if set, else ``<repo>/../shared/datasets``."""
    override = os.environ.get(DATASETS_ENV)
    if override:
        return Path(override).expanduser().resolve()
    return (repo_root().parent / "shared" / "datasets").resolve()


def dataset_dir(name: str, root: Path | None = None) -> Path:
    """The folder of one dataset (e.g. ``utd-mhad``) under ``root`` or :func:`datasets_root`."""
    return (root if root is not None else datasets_root()) / name
