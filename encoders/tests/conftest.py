"""Which data the tests read.

* ``MUJO_DATASETS`` set: the full data sets there (it must hold ``utd-mhad/``).
* otherwise: the small real subsets bundled in ``encoders/tests/fixtures/datasets``
  (rebuilt by ``python3 -m encoders.tools.make_fixtures``), so the suite runs on a bare clone.

Tests whose assertions only hold on the full sets (clip counts, the demo recording's
sources) carry ``@pytest.mark.full_data("what they check")``; without the full sets they are skipped with one
line saying why, unless ``MUJO_REQUIRE_DATASETS=1`` (CI), which turns that skip into a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from encoders.data.paths import DATASETS_ENV, fixtures_root

REQUIRE_ENV = "MUJO_REQUIRE_DATASETS"
SKIP_REASON = f"{DATASETS_ENV} is not set (README, 'Data sets')"


def _full_root() -> Path | None:
    value = os.environ.get(DATASETS_ENV)
    return Path(value).expanduser().resolve() if value else None


def _required() -> bool:
    return os.environ.get(REQUIRE_ENV, "") not in ("", "0")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"full_data(what): needs the full data sets ({DATASETS_ENV}); skipped without them unless {REQUIRE_ENV}=1")


def pytest_report_header(config: pytest.Config) -> str:
    full = _full_root()
    return f"data sets: {full} (full)" if full else f"data sets: {fixtures_root()} (bundled fixtures; {DATASETS_ENV} unset)"


def pytest_runtest_setup(item: pytest.Item) -> None:
    marker = item.get_closest_marker("full_data")
    if marker is None or _full_root() is not None:
        return
    what = f"needs the full data sets ({marker.args[0]})" if marker.args else "needs the full data sets"
    if _required():
        pytest.fail(f"{what}, but {REQUIRE_ENV}=1 and {DATASETS_ENV} is not set", pytrace=False)
    pytest.skip(f"{what}: {SKIP_REASON}")


@pytest.fixture(scope="session")
def full_data() -> bool:
    """True when the tests run on the full data sets (counts and thresholds may assume them)."""
    return _full_root() is not None


@pytest.fixture(scope="session")
def datasets() -> Path:
    full = _full_root()
    if full is None:
        if _required():
            pytest.fail(f"{REQUIRE_ENV}=1 but {DATASETS_ENV} is not set", pytrace=False)
        return fixtures_root()
    if not (full / "utd-mhad").is_dir():
        pytest.fail(f"{DATASETS_ENV}={full} holds no utd-mhad/ folder", pytrace=False)
    return full


@pytest.fixture(scope="session")
def utd_clips(datasets: Path) -> list:
    from encoders.data.utd_mhad import load_utd_mhad

    return load_utd_mhad(datasets)
