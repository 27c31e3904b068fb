"""Smartphone + smartwatch HAR dataset (Matey-Sanz et al. 2023, CC BY 4.0).

23 subjects, 223 Timed-Up-and-Go-style executions ``sNN/sNN_YY_{sp,sw}.csv``, each recorded
simultaneously by a smartwatch (wrist) and a smartphone (trouser pocket) at about 100 Hz, with
a label per sample. Columns: ``x_acc,y_acc,z_acc,x_gyro,y_gyro,z_gyro,timestamp,label``
(m/s² incl. gravity, rad/s, unix ms).

Both devices of one execution share a time origin (the earlier of their first timestamps), so
windows cut on the common hop grid pair up by end time. Timestamps have millisecond resolution
and the phone stamps some samples with the same time; those are averaged before resampling
to 50 Hz by linear interpolation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np

from .errors import DatasetError
from .paths import dataset_dir
from .windows import WindowSet, WindowSpec, collapse_duplicate_times, windows_with_sample_labels

DATASET_DIRNAME: Final = "sp-sw-har"
SPSW_CLASSES: Final = ("seated", "standing_up", "walking", "turning", "sitting_down")
SOURCE_LABELS: Final = {name.upper(): i for i, name in enumerate(SPSW_CLASSES)}
COLUMNS: Final = ("x_acc", "y_acc", "z_acc", "x_gyro", "y_gyro", "z_gyro", "timestamp", "label")
DEVICES: Final = {"watch": ("sw", "wrist"), "phone": ("sp", "pocket")}
DEFAULT_WINDOW: Final = WindowSpec(length_s=2.0, hop_s=0.5, rate_hz=50.0)
_NAME_RE: Final = re.compile(r"^s(\d+)_(\d+)_(sp|sw)\.csv$")


@dataclass(frozen=True)
class DeviceStream:
    t_ms: np.ndarray  # (N,) int64 unix milliseconds, as recorded (not sorted or deduplicated)
    imu: np.ndarray  # (N, 6) float32 m/s², rad/s
    y: np.ndarray  # (N,) int64 index into SPSW_CLASSES

    @property
    def rate_hz(self) -> float:
        span = (self.t_ms[-1] - self.t_ms[0]) / 1000.0
        return (self.t_ms.shape[0] - 1) / span if span > 0 else float("nan")


@dataclass(frozen=True)
class SpSwSequence:
    subject: int
    execution: int
    watch: DeviceStream
    phone: DeviceStream

    @property
    def key(self) -> str:
        return f"s{self.subject:02d}_{self.execution:02d}"

    @property
    def origin_ms(self) -> int:
        return int(min(self.watch.t_ms.min(), self.phone.t_ms.min()))

    def device(self, name: str) -> DeviceStream:
        if name not in DEVICES:
            raise ValueError(f"device must be one of {sorted(DEVICES)}, got {name!r}")
        return self.watch if name == "watch" else self.phone


def read_device_csv(path: Path) -> DeviceStream:
    if not path.is_file():
        raise DatasetError(path, "file is missing")
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or lines[0].strip() != ",".join(COLUMNS):
        raise DatasetError(path, f"line 1: header is not {','.join(COLUMNS)!r}")
    rows = [line.split(",") for line in lines[1:] if line.strip()]
    if len(rows) < 2:
        raise DatasetError(path, "has fewer than two samples")
    for number, row in enumerate(rows, start=2):
        if len(row) != len(COLUMNS):
            raise DatasetError(path, f"line {number}: {len(row)} columns, expected {len(COLUMNS)}")
        if row[7] not in SOURCE_LABELS:
            raise DatasetError(path, f"line {number}: unknown label {row[7]!r} (expected one of {sorted(SOURCE_LABELS)})")
    try:
        imu = np.array([r[:6] for r in rows], dtype=np.float64)
        t_ms = np.array([r[6] for r in rows], dtype=np.int64)
    except ValueError as exc:
        raise DatasetError(path, f"non-numeric value ({exc})") from None
    if not np.all(np.isfinite(imu)):
        raise DatasetError(path, "contains NaN or infinite values")
    y = np.array([SOURCE_LABELS[r[7]] for r in rows], dtype=np.int64)
    return DeviceStream(t_ms=t_ms, imu=imu.astype(np.float32), y=y)


def load_spswhar(root: Path | None = None, subjects: Iterable[int] | None = None) -> list[SpSwSequence]:
    """Every execution with both devices, ordered by (subject, execution). ``root`` is the
    datasets root or the ``sp-sw-har`` folder itself."""
    folder = root if root is not None and (Path(root) / "subjects_info.csv").is_file() else dataset_dir(DATASET_DIRNAME, root)
    if not folder.is_dir():
        raise DatasetError(folder, "sp-sw-har folder is missing (set MUJO_DATASETS?)")
    wanted = None if subjects is None else frozenset(int(s) for s in subjects)
    keys: set[tuple[int, int]] = set()
    for path in folder.glob("s*/s*_*_*.csv"):
        match = _NAME_RE.match(path.name)
        if match:
            keys.add((int(match.group(1)), int(match.group(2))))
    if not keys:
        raise DatasetError(folder, "contains no sNN/sNN_YY_{sp,sw}.csv files")
    sequences = []
    for subject, execution in sorted(keys):
        if wanted is not None and subject not in wanted:
            continue
        stem = folder / f"s{subject:02d}" / f"s{subject:02d}_{execution:02d}"
        sequences.append(
            SpSwSequence(
                subject=subject,
                execution=execution,
                watch=read_device_csv(Path(f"{stem}_sw.csv")),
                phone=read_device_csv(Path(f"{stem}_sp.csv")),
            )
        )
    return sequences


def sequence_windows(seq: SpSwSequence, device: str, spec: WindowSpec = DEFAULT_WINDOW) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(end_ns since the sequence origin, windows (W, L, 6), y (W,)) of one device."""
    stream = seq.device(device)
    t_ns = (stream.t_ms - seq.origin_ms) * 1_000_000
    t_unique, values, first = collapse_duplicate_times(t_ns, stream.imu)
    return windows_with_sample_labels(t_unique, values.astype(np.float32), stream.y[first], spec)


def spswhar_windows(sequences: Iterable[SpSwSequence], device: str = "watch", spec: WindowSpec = DEFAULT_WINDOW) -> WindowSet:
    """Windows of one device over many sequences; ``group`` = subject, ``sequence`` = running
    index subject * 100 + execution."""
    parts = []
    for seq in sequences:
        end_ns, x, y = sequence_windows(seq, device, spec)
        n = y.shape[0]
        parts.append(
            WindowSet(
                x=x,
                y=y,
                classes=SPSW_CLASSES,
                group=np.full(n, seq.subject, dtype=np.int64),
                sequence=np.full(n, seq.subject * 100 + seq.execution, dtype=np.int64),
                end_s=end_ns / 1e9,
            )
        )
    return WindowSet.concat(parts, SPSW_CLASSES, (spec.length, 6))
