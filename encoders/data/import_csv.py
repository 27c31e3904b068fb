"""``import-csv``: a folder of IMU CSV files plus a labels file → a recording.

Each ``*.csv`` in the folder is one IMU worn by one subject (subject id = file name without
``.csv``). Columns are found by name (``t,ax,ay,az,gx,gy,gz``, ``timestamp,acc_x,…,gyro_z``,
``time,accX,…`` and similar; a unit in the name such as ``acc_x_g`` or ``gx(deg/s)`` is read
as a declaration). Units and time base are taken from the flags, else from the header, else
detected from the data, and every choice is reported, because a wrong guess (deg/s read as
rad/s) silently ruins a model:

* time: epoch-sized values tell s / ms / µs / ns apart; otherwise the median step does
  (a step below 0.5 is seconds, below 200 milliseconds, below 2e5 microseconds, else ns);
  ``--rate`` settles it, and gives the times when a file has no time column;
* acceleration: the median magnitude is gravity — about 1 means g, about 9.8 means m/s²;
* angular rate: a 99th percentile above 25 cannot be rad/s on a human (1400 °/s), so deg/s;
  below it rad/s is assumed (declare ``--gyro-unit deg/s`` for slow, still data);
* accelerometer-only files get zero angular-rate columns (reported; the encoders were trained
  with a gyroscope, so expect lower accuracy than with one).

Labels: a CSV with ``subject`` (or ``file``), ``start``, ``end``, ``activity`` (or ``label``)
whose times are on the data's own clock and unit (``--label-times relative`` for seconds from
the file's first sample), or a label column inside the data files (runs of equal labels become
intervals). Every problem is a :class:`DatasetError` naming the file and line.
"""

from __future__ import annotations

import csv
import datetime as _dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .csv_import import ACC_UNITS, GYRO_UNITS, TIME_UNITS
from .errors import DatasetError
from .recording import PLACEMENTS, ImuStream, LabelInterval, Subject, write_recording

AXES = ("x", "y", "z")
_ACC_STEMS = ("a", "acc", "accel", "acceleration", "accelerometer")
_GYRO_STEMS = ("g", "gyr", "gyro", "gyroscope", "w", "omega", "angvel", "angularvelocity", "rot", "rotationrate")
_TIME_NAMES = ("t", "time", "timestamp", "ts", "tns", "tms", "ts_", "times", "timens", "timems", "timeus", "timestampns", "timestampms", "timestampus", "seconds", "elapsed", "elapsedtime", "epoch", "unixtime")
_LABEL_NAMES = ("label", "activity", "class", "annotation")
#: unit words that may trail a column name: removed before matching, kept as a declaration
_UNIT_SUFFIXES = (
    ("ms2", "m/s^2"), ("mss", "m/s^2"), ("mps2", "m/s^2"), ("g", "g"),
    ("dps", "deg/s"), ("degs", "deg/s"), ("deg", "deg/s"), ("rads", "rad/s"), ("rad", "rad/s"),
    ("ns", "ns"), ("us", "us"), ("ms", "ms"), ("s", "s"),
)
GYRO_DEG_THRESHOLD = 25.0


@dataclass
class ColumnMap:
    time: int | None
    acc: tuple[int, int, int]
    gyro: tuple[int, int, int] | None
    label: int | None
    declared: dict[str, str] = field(default_factory=dict)  # quantity -> unit read from the header


@dataclass
class ImportedFile:
    path: Path
    subject: str
    t_ns: np.ndarray  # int64 on the data's own clock (not yet rebased)
    values: np.ndarray  # (N, 6) float64 m/s², rad/s
    row_labels: list[str] | None
    units: dict[str, str]  # quantity -> unit used, with "(detected)" / "(header)" / "(flag)"
    rate_hz: float
    gyro_present: bool


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _split_unit(name: str) -> tuple[str, str | None]:
    """('acc_x_g' → 'accx', 'g'); ('gx(deg/s)' → 'gx', 'deg/s'); ('ax' → 'ax', None)."""
    raw = name.strip().lower()
    bracket = re.search(r"[\[(]([^\])]*)[\])]", raw)
    if bracket:
        unit = _norm(bracket.group(1).replace("^", "").replace("/", ""))
        base = _norm(raw[: bracket.start()])
        for suffix, canonical in _UNIT_SUFFIXES:
            if unit == suffix or unit == suffix.replace("s", "sec"):
                return base, canonical
        return base, None
    parts = re.split(r"[_\s.-]+", raw.replace("/", "_").replace("^", ""))
    for n in (2, 1):  # 'gyro_x_rad_s' (two parts of unit) before 'acc_x_g' (one)
        if len(parts) > n:
            tail = _norm("".join(parts[-n:]))
            for suffix, canonical in _UNIT_SUFFIXES:
                if tail == suffix:
                    return _norm("".join(parts[:-n])), canonical
    return _norm(raw), None


def map_columns(path: Path, header: Sequence[str]) -> ColumnMap:
    split = [_split_unit(h) for h in header]
    names = [base for base, _ in split]

    def find(candidates: Sequence[str]) -> int | None:
        for cand in candidates:
            if cand in names:
                return names.index(cand)
        return None

    declared: dict[str, str] = {}
    time = find(_TIME_NAMES)
    if time is None:
        time = next((i for i, n in enumerate(names) if n.startswith("time") or n.startswith("timestamp")), None)
    if time is not None:
        unit = split[time][1] or next((u for suf, u in (("ns", "ns"), ("us", "us"), ("ms", "ms")) if names[time].endswith(suf) and names[time] not in ("ts",)), None)
        if names[time] in ("tns", "timens", "timestampns"):
            unit = "ns"
        if unit in TIME_UNITS:
            declared["time"] = unit
    acc, gyro = [], []
    for axis in AXES:
        # Stem first (acc_x, accX, ax) or axis first (x_acc, xGyro, as sp-sw-har writes them);
        # one-letter stems only stem first ('xg' could be "x in g").
        acc.append(find([f"{s}{axis}" for s in _ACC_STEMS] + [f"{axis}{s}" for s in _ACC_STEMS if len(s) > 1]))
        gyro.append(find([f"{s}{axis}" for s in _GYRO_STEMS] + [f"{axis}{s}" for s in _GYRO_STEMS if len(s) > 1]))
    acc_cols = _all_three(acc)
    if acc_cols is None:
        missing = [f"acceleration {a}" for a, i in zip(AXES, acc, strict=True) if i is None]
        raise DatasetError(path, f"line 1: missing column(s) {missing} (header {list(header)}; expected names like ax/acc_x/accX/x_acc)")
    gyro_cols = _all_three(gyro)
    if gyro_cols is None and any(i is not None for i in gyro):
        missing = [f"angular rate {a}" for a, i in zip(AXES, gyro, strict=True) if i is None]
        raise DatasetError(path, f"line 1: missing column(s) {missing} (header {list(header)}; expected gx/gyro_x/gyrX for all three axes)")
    for quantity, cols, table in (("acc", acc_cols, ACC_UNITS), ("gyro", gyro_cols or (), GYRO_UNITS)):
        units = {unit for i in cols if (unit := split[i][1]) is not None and unit in table}
        if len(units) == 1:
            declared[quantity] = units.pop()
    label = find(_LABEL_NAMES)
    return ColumnMap(time, acc_cols, gyro_cols, label, declared)


def _all_three(found: list[int | None]) -> tuple[int, int, int] | None:
    """The x, y, z column indices when all three were found, else None."""
    x, y, z = found
    return (x, y, z) if x is not None and y is not None and z is not None else None


def _sniff_delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def detect_time_unit(t: np.ndarray, rate_hz: float | None) -> str:
    steps = np.diff(t)
    step = float(np.median(steps)) if steps.size else 0.0
    if rate_hz:
        # The unit that turns the median step into the declared rate's period.
        return min(TIME_UNITS, key=lambda u: abs(np.log(max(step, 1e-12) * TIME_UNITS[u] / 1e9 * rate_hz)))
    first = abs(float(t[0]))
    for unit, epoch in (("s", 1e9), ("ms", 1e12), ("us", 1e15), ("ns", 1e18)):
        if 0.5 * epoch <= first < 5 * epoch:  # 1985 .. 2128 as a Unix time
            return unit
    if step < 0.5:
        return "s"
    if step < 200:
        return "ms"
    if step < 2e5:
        return "us"
    return "ns"


def detect_acc_unit(path: Path, acc: np.ndarray) -> str:
    magnitude = float(np.median(np.linalg.norm(acc, axis=1)))
    if 0.5 <= magnitude <= 2.0:
        return "g"
    if 5.0 <= magnitude <= 20.0:
        return "m/s^2"
    raise DatasetError(path, f"cannot tell the acceleration unit: median magnitude {magnitude:.3g} is neither ~1 (g) nor ~9.8 (m/s^2); is gravity removed? declare --acc-unit")


def detect_gyro_unit(gyro: np.ndarray) -> str:
    return "deg/s" if float(np.percentile(np.abs(gyro), 99)) > GYRO_DEG_THRESHOLD else "rad/s"


def read_imu_file(path: Path, *, time_unit: str = "auto", acc_unit: str = "auto", gyro_unit: str = "auto", rate_hz: float | None = None) -> ImportedFile:
    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, "file is missing")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(path, f"is not UTF-8 text ({exc})") from exc
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise DatasetError(path, "is empty (expected a header line, e.g. t,ax,ay,az,gx,gy,gz)")
    delimiter = _sniff_delimiter(lines[0])
    rows = list(csv.reader(lines, delimiter=delimiter))
    header = [h.strip() for h in rows[0]]
    if all(_is_number(h) for h in header if h):
        raise DatasetError(path, "line 1: no header row (name the columns, e.g. t,ax,ay,az,gx,gy,gz)")
    cols = map_columns(path, header)
    if cols.time is None and not rate_hz:
        raise DatasetError(path, f"line 1: no time column (header {header}); add one (t, time, timestamp) or declare --rate")
    numeric_cols = ([cols.time] if cols.time is not None else []) + list(cols.acc) + list(cols.gyro or ())
    data: list[list[float]] = []
    row_labels: list[str] = []
    for number, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) < len(header):
            raise DatasetError(path, f"line {number}: {len(row)} columns, expected {len(header)}")
        values = []
        for i in numeric_cols:
            cell = row[i].strip()
            try:
                v = float(cell)
            except ValueError:
                raise DatasetError(path, f"line {number}: column {header[i]!r} value {cell!r} is not a number") from None
            if not np.isfinite(v):
                raise DatasetError(path, f"line {number}: column {header[i]!r} value {cell!r} is not finite")
            values.append(v)
        data.append(values)
        if cols.label is not None:
            row_labels.append(row[cols.label].strip())
    if len(data) < 2:
        raise DatasetError(path, f"has {len(data)} data row(s); need at least two")
    array = np.array(data, dtype=np.float64)
    if cols.time is not None:
        t = array[:, 0]
        back = np.flatnonzero(np.diff(t) < 0)
        if back.size:
            # Data rows are numbered from line 2; blank lines are rare enough to ignore here.
            raise DatasetError(path, f"line {back[0] + 3}: time {t[back[0] + 1]!r} goes backwards (previous row {t[back[0]]!r}); times must not decrease")
        offset = 1
    else:
        assert rate_hz, "read_imu_file refuses a file without a time column and without a rate"
        t = np.arange(len(array)) / float(rate_hz)
        offset = 0
    units: dict[str, str] = {}

    def choose(quantity: str, flag: str, detect) -> str:
        if flag != "auto":
            units[quantity] = f"{flag} (flag)"
            return flag
        if quantity in cols.declared:
            units[quantity] = f"{cols.declared[quantity]} (header)"
            return cols.declared[quantity]
        unit = detect()
        units[quantity] = f"{unit} (detected)"
        return unit

    tu = "s" if cols.time is None else choose("time", time_unit, lambda: detect_time_unit(t, rate_hz))
    if cols.time is None:
        units["time"] = f"none: {rate_hz} Hz (flag)"
    acc = array[:, offset : offset + 3]
    au = choose("acc", acc_unit, lambda: detect_acc_unit(path, acc))
    for table, unit, what in ((TIME_UNITS, tu, "time"), (ACC_UNITS, au, "acc")):
        if unit not in table:
            raise ValueError(f"{what} unit {unit!r} is not one of {sorted(table)}")
    values = np.zeros((len(array), 6), dtype=np.float64)
    values[:, :3] = acc * ACC_UNITS[au]
    if cols.gyro is not None:
        gyro = array[:, offset + 3 : offset + 6]
        gu = choose("gyro", gyro_unit, lambda: detect_gyro_unit(gyro))
        if gu not in GYRO_UNITS:
            raise ValueError(f"gyro unit {gu!r} is not one of {sorted(GYRO_UNITS)}")
        values[:, 3:] = gyro * GYRO_UNITS[gu]
    else:
        units["gyro"] = "absent: written as 0 rad/s"
    t_ns = np.round(t * TIME_UNITS[tu]).astype(np.int64)
    # Phones stamp batches of samples with one time: keep the first sample of each time.
    keep = np.concatenate([[True], np.diff(t_ns) > 0])
    t_ns, values = t_ns[keep], values[keep]
    labels = [label for label, k in zip(row_labels, keep, strict=True) if k] if cols.label is not None else None
    duration = (t_ns[-1] - t_ns[0]) / 1e9
    rate = (len(t_ns) - 1) / duration if duration > 0 else 0.0
    if rate <= 0:
        raise DatasetError(path, "all samples share one time stamp")
    return ImportedFile(path, subject_id_for(path), t_ns, values, labels, units, rate, cols.gyro is not None)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def subject_id_for(path: Path) -> str:
    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(path).stem).strip("_")
    if not slug:
        raise DatasetError(path, "file name gives no subject id")
    return slug


def runs_to_intervals(subject: str, t_ns: np.ndarray, labels: Sequence[str]) -> list[LabelInterval]:
    """Runs of equal non-empty per-row labels → half-open intervals on the same clock."""
    out = []
    start = 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[start]:
            if labels[start]:
                end_ns = int(t_ns[i]) if i < len(labels) else int(t_ns[-1]) + 1
                out.append(LabelInterval(subject, int(t_ns[start]), end_ns, labels[start]))
            start = i
    return out


def read_labels_file(path: Path, files: dict[str, ImportedFile], time_unit: str, times: str) -> list[LabelInterval]:
    """``subject|file,start,end,activity|label`` rows → intervals on the data's clock (ns)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, "file is missing")
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    if not lines or not lines[0].strip():
        raise DatasetError(path, "is empty (expected a header: subject,start,end,activity)")
    rows = list(csv.reader(lines, delimiter=_sniff_delimiter(lines[0])))
    header = [_norm(h) for h in rows[0]]

    def col(options: Sequence[str]) -> int:
        for o in options:
            if o in header:
                return header.index(o)
        raise DatasetError(path, f"line 1: no {options[0]!r} column (header {rows[0]}; expected subject,start,end,activity)")

    c_subject = col(("subject", "file", "device", "participant"))
    c_start = col(("start", "startns", "starts", "startms", "begin", "from"))
    c_end = col(("end", "endns", "ends", "endms", "stop", "to"))
    c_activity = col(("activity", "label", "class", "exercise"))
    out = []
    for number, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) < len(header):
            raise DatasetError(path, f"line {number}: {len(row)} columns, expected {len(header)}")
        subject = subject_id_for(Path(row[c_subject].strip()))
        if subject not in files:
            raise DatasetError(path, f"line {number}: subject/file {row[c_subject]!r} matches no data file (have {sorted(files)})")
        try:
            start, end = float(row[c_start]), float(row[c_end])
        except ValueError:
            raise DatasetError(path, f"line {number}: start/end {row[c_start]!r}, {row[c_end]!r} are not numbers") from None
        activity = row[c_activity].strip()
        if not activity:
            raise DatasetError(path, f"line {number}: empty activity")
        if "," in activity:
            raise DatasetError(path, f"line {number}: activity {activity!r} may not contain a comma")
        scale = TIME_UNITS[time_unit]
        base = int(files[subject].t_ns[0]) if times == "relative" else 0
        start_ns, end_ns = base + int(round(start * scale)), base + int(round(end * scale))
        if end_ns <= start_ns:
            raise DatasetError(path, f"line {number}: end {row[c_end]!r} is not after start {row[c_start]!r}")
        t = files[subject].t_ns
        if end_ns <= t[0] or start_ns >= t[-1]:
            raise DatasetError(path, f"line {number}: interval [{row[c_start]}, {row[c_end]}) lies outside {files[subject].path.name}'s time span — are the label times on the data's clock and unit (see --label-times, --label-time-unit)?")
        out.append(LabelInterval(subject, start_ns, end_ns, activity))
    return out


@dataclass
class ImportReport:
    out: Path
    files: list[ImportedFile]
    labels: list[LabelInterval]


def import_csv_folder(
    folder: Path,
    out: Path,
    *,
    labels: Path | None = None,
    time_unit: str = "auto",
    acc_unit: str = "auto",
    gyro_unit: str = "auto",
    rate_hz: float | None = None,
    placement: str = "wrist",
    label_times: str = "data",
    label_time_unit: str | None = None,
    gateway: str = "import-csv",
    command: str = "",
) -> ImportReport:
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(folder, "is not a directory of CSV files")
    if placement not in PLACEMENTS:
        raise ValueError(f"placement {placement!r} is not one of {sorted(PLACEMENTS)}")
    paths = sorted(p for p in folder.glob("*.csv") if labels is None or p.resolve() != Path(labels).resolve())
    if not paths:
        raise DatasetError(folder, "contains no *.csv files")
    files: dict[str, ImportedFile] = {}
    for path in paths:
        f = read_imu_file(path, time_unit=time_unit, acc_unit=acc_unit, gyro_unit=gyro_unit, rate_hz=rate_hz)
        if f.subject in files:
            raise DatasetError(path, f"gives subject id {f.subject!r} like {files[f.subject].path.name}")
        files[f.subject] = f
    data_time_unit = next((u.split()[0] for u in (files[s].units.get("time", "") for s in files) if u.split() and u.split()[0] in TIME_UNITS), "s")
    if labels is not None:
        intervals = read_labels_file(labels, files, label_time_unit or (data_time_unit if label_times == "data" else "s"), label_times)
    else:
        intervals = [iv for f in files.values() if f.row_labels is not None for iv in runs_to_intervals(f.subject, f.t_ns, f.row_labels)]
        if not intervals:
            raise DatasetError(folder, "no labels: pass --labels FILE (subject,start,end,activity) or give the CSV files a label column")
    # One time base for the recording: the earliest sample of any file is t_ns = 0.
    t0 = min(int(f.t_ns[0]) for f in files.values())
    epoch_like = t0 > 5e17  # ≥ 1985 as Unix ns
    start_time = _dt.datetime.fromtimestamp(t0 / 1e9, _dt.UTC) if epoch_like else _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
    devices = [
        ImuStream(id=f"imu-{s}", t_ns=f.t_ns - t0, values=f.values, subject=s, placement=placement, rate_hz=round(f.rate_hz, 2), file=f"imu/imu-{s}.csv")
        for s, f in files.items()
    ]
    rebased = [LabelInterval(iv.subject, iv.start_ns - t0, iv.end_ns - t0, iv.activity) for iv in intervals]
    units = {s: f.units for s, f in files.items()}
    write_recording(
        out,
        gateway=gateway,
        start_time=start_time.strftime("%Y-%m-%dT%H:%M:%S.") + f"{start_time.microsecond // 1000:03d}Z",
        subjects=[Subject(s, f"from {f.path.name}") for s, f in files.items()],
        devices=devices,
        labels=sorted(rebased, key=lambda iv: (iv.subject, iv.start_ns)),
        description=f"Imported from {len(files)} CSV file(s) in {folder.name}" + ("; no angular rate in " + ", ".join(s for s, f in files.items() if not f.gyro_present) + " (written as 0)" if any(not f.gyro_present for f in files.values()) else ""),
        source={"importedFrom": folder.name, "units": units, "command": command},
    )
    return ImportReport(Path(out), list(files.values()), rebased)
