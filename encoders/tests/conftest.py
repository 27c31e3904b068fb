"""Shared fixtures for the data tests: the real datasets, loaded once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from encoders.data.paths import datasets_root


@pytest.fixture(scope="session")
def datasets() -> Path:
    root = datasets_root()
    if not (root / "utd-mhad").is_dir():
        pytest.fail(f"real datasets not found at {root} (set MUJO_DATASETS)")
    return root


@pytest.fixture(scope="session")
def utd_clips(datasets: Path) -> list:
    from encoders.data.utd_mhad import load_utd_mhad

    return load_utd_mhad(datasets)
