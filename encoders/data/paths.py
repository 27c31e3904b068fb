"""Where the trainer finds its inputs.

The full data sets are never copied into the repository: point ``MUJO_DATASETS`` (or a
command's ``--datasets``) at the folder that holds ``utd-mhad/``, ``sp-sw-har/`` and
``mmfit-labels/`` (the README's "Data sets" says where to get each one). A small real subset
of each is bundled for the tests under ``encoders/tests/fixtures/datasets``
(:func:`fixtures_root`); nothing falls back to it silently.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import DatasetError

DATASETS_ENV = "MUJO_DATASETS"


class DatasetsNotConfigured(DatasetError):
    """No ``--datasets`` was given and ``MUJO_DATASETS`` is not set."""

    def __init__(self) -> None:
        self.path = Path(".")
        self.problem = (
            f"no data sets configured: set {DATASETS_ENV} to the folder holding utd-mhad/, sp-sw-har/ "
            "and mmfit-labels/, or pass --datasets DIR (the README's \"Data sets\" says where to get them)"
        )
        ValueError.__init__(self, self.problem)


def repo_root() -> Path:
    """The repository root (the directory that holds the ``encoders`` package)."""
    return Path(__file__).resolve().parents[2]


def demo_recording() -> Path:
    """The bundled demo recording (``make-recording``'s output, the stream evaluation's input)."""
    return repo_root() / "recordings" / "demo"


def default_model_dir() -> Path:
    """The bundled default model (``train-default``'s output; ships its checkpoint)."""
    return repo_root() / "models" / "default"


def fixtures_root() -> Path:
    """The small real subsets bundled for the tests (same layout as the full data sets)."""
    return repo_root() / "encoders" / "tests" / "fixtures" / "datasets"


def datasets_root() -> Path:
    """``$MUJO_DATASETS``; raises :class:`DatasetsNotConfigured` when it is not set."""
    override = os.environ.get(DATASETS_ENV)
    if override:
        return Path(override).expanduser().resolve()
    raise DatasetsNotConfigured()


def dataset_dir(name: str, root: Path | None = None) -> Path:
    """The folder of one dataset (e.g. ``utd-mhad``) under ``root`` or :func:`datasets_root`."""
    return (root if root is not None else datasets_root()) / name
