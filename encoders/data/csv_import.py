"""Import IMU data from any CSV with a header row (a phone app export, a lab logger, …).

The caller names the columns (time, three acceleration, three angular-rate and optionally a
label column) and their units; the result is in the trainer's canonical units (m/s², rad/s,
integer nanoseconds from the first sample) and is cut into the same windows as every other
dataset (:mod:`encoders.data.windows`). Rows with an empty label are unlabelled (-1).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np

from .errors import DatasetError
from .utd_mhad import STANDARD_GRAVITY
from .windows import WindowSet, WindowSpec, collapse_duplicate_times, windows_with_sample_labels

ACC_UNITS: Final = {"m/s^2": 1.0, "m/s2": 1.0, "g": STANDARD_GRAVITY}
GYRO_UNITS: Final = {"rad/s": 1.0, "deg/s": float(np.pi / 180.0)}
TIME_UNITS: Final = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


@dataclass(frozen=True)
class CsvColumns:
    time: str = "t"
    acc: tuple[str, str, str] = ("ax", "ay", "az")
    gyro: tuple[str, str, str] = ("gx", "gy", "gz")
    label: str | None = None


#: every column found by its usual names
DEFAULT_COLUMNS = CsvColumns()


@dataclass(frozen=True)
class ImportedImu:
    path: Path
    t_ns: np.ndarray  # (N,) int64 from the first sample, ascending, unique
    imu: np.ndarray  # (N, 6) float32 m/s², rad/s
    labels: np.ndarray  # (N,) object (str) — "" where unlabelled

    def y(self, classes: Sequence[str]) -> np.ndarray:
        """Label indices into ``classes`` (-1 for unlabelled); an unknown label is an error."""
        index = {c: i for i, c in enumerate(classes)}
        unknown = sorted({name for name in self.labels.tolist() if name and name not in index})
        if unknown:
            raise DatasetError(self.path, f"labels {unknown} are not among the classes {list(classes)}")
        return np.array([index.get(name, -1) if name else -1 for name in self.labels.tolist()], dtype=np.int64)


def load_imu_csv(
    path: Path,
    columns: CsvColumns = DEFAULT_COLUMNS,
    *,
    time_unit: str = "s",
    acc_unit: str = "m/s^2",
    gyro_unit: str = "rad/s",
    delimiter: str = ",",
) -> ImportedImu:
    for name, unit, table in (("time", time_unit, TIME_UNITS), ("acc", acc_unit, ACC_UNITS), ("gyro", gyro_unit, GYRO_UNITS)):
        if unit not in table:
            raise ValueError(f"{name} unit {unit!r} is not one of {sorted(table)}")
    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, "file is missing")
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        header = [h.strip() for h in next(reader, [])]
        wanted = [columns.time, *columns.acc, *columns.gyro] + ([columns.label] if columns.label else [])
        missing = [c for c in wanted if c not in header]
        if missing:
            raise DatasetError(path, f"line 1: missing column(s) {missing} (header has {header})")
        idx = [header.index(c) for c in wanted]
        numeric: list[list[float]] = []
        labels: list[str] = []
        for number, row in enumerate(reader, start=2):
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) < len(header):
                raise DatasetError(path, f"line {number}: {len(row)} columns, expected {len(header)}")
            try:
                numeric.append([float(row[i]) for i in idx[:7]])
            except ValueError:
                bad = next(header[i] for i in idx[:7] if not _is_float(row[i]))
                raise DatasetError(path, f"line {number}: column {bad!r} value {row[header.index(bad)]!r} is not a number") from None
            labels.append(row[idx[7]].strip() if columns.label else "")
    if len(numeric) < 2:
        raise DatasetError(path, "has fewer than two data rows")
    data = np.array(numeric, dtype=np.float64)
    if not np.all(np.isfinite(data)):
        raise DatasetError(path, "contains NaN or infinite values")
    t_ns = np.round((data[:, 0] - data[0, 0]) * TIME_UNITS[time_unit]).astype(np.int64)
    imu = np.empty((data.shape[0], 6), dtype=np.float64)
    imu[:, :3] = data[:, 1:4] * ACC_UNITS[acc_unit]
    imu[:, 3:] = data[:, 4:7] * GYRO_UNITS[gyro_unit]
    t_unique, values, first = collapse_duplicate_times(t_ns, imu)
    t_unique = t_unique - t_unique[0]
    return ImportedImu(path, t_unique, values.astype(np.float32), np.array(labels, dtype=object)[first])


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def csv_windows(
    imported: ImportedImu, spec: WindowSpec, classes: Sequence[str] | None = None, group: int = 0, sequence: int = 0
) -> WindowSet:
    """Windows of an imported CSV; ``classes`` defaults to the sorted distinct labels."""
    if classes is None:
        classes = sorted({name for name in imported.labels.tolist() if name})
    classes = tuple(classes)
    end_ns, x, y = windows_with_sample_labels(imported.t_ns, imported.imu, imported.y(classes), spec)
    n = y.shape[0]
    return WindowSet(
        x=x,
        y=y,
        classes=classes,
        group=np.full(n, group, dtype=np.int64),
        sequence=np.full(n, sequence, dtype=np.int64),
        end_s=end_ns / 1e9,
    )
