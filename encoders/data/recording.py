"""Read and write gateway recordings (``docs/recording-format.md``, format version 1).

A recording is a directory with ``recording.json``, ``imu/<device>.csv`` (``t_ns,ax,ay,az,gx,gy,gz``
in m/s² and rad/s), ``pose/<camera>.csv`` (``t_ns,track`` then x, y, score per COCO-17 keypoint)
and an optional ``labels.csv`` (``subject,start_ns,end_ns,activity``, half-open intervals).
``t_ns`` is an integer count of nanoseconds since the recording's ``startTime``.

Every problem is raised as :class:`~encoders.data.errors.DatasetError` naming the file (and the
line for CSV rows), because recordings are also written by hand and by other programs.
``recording.json`` is first checked against ``config/schemas/recording.schema.json``, the schema
the gateway's recorder and replay source validate against too (:class:`RecordingSchemaError`,
code ``RECORDING_SCHEMA_INVALID``); the placement list is that schema's enum.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Final

import numpy as np

from .errors import DatasetError
from .paths import repo_root
from .pose_projection import COCO17_KEYPOINTS

RECORDING_SCHEMA_PATH: Final = repo_root() / "config" / "schemas" / "recording.schema.json"
RECORDING_SCHEMA: Final[dict[str, Any]] = json.loads(RECORDING_SCHEMA_PATH.read_text(encoding="utf-8"))

FORMAT_NAME: Final = "mujo-recording"
FORMAT_VERSION: Final = 1
IMU_COLUMNS: Final = ("t_ns", "ax", "ay", "az", "gx", "gy", "gz")
POSE_COLUMNS: Final = ("t_ns", "track") + tuple(
    f"{kp}_{axis}" for kp in COCO17_KEYPOINTS for axis in ("x", "y", "score")
)
LABEL_COLUMNS: Final = ("subject", "start_ns", "end_ns", "activity")
PLACEMENTS: Final = frozenset(RECORDING_SCHEMA["$defs"]["placement"]["enum"])
IMU_UNITS: Final = {"acc": "m/s^2", "gyro": "rad/s"}


@dataclass(frozen=True)
class Precision:
    """Decimal places written per quantity (scores: significant digits, so 1.0 is written "1").

    The defaults sit at or below each source's resolution (UTD-MHAD: acc LSB 2.4e-3 m/s², gyro
    LSB 5.3e-4 rad/s; 1e-3 of a 640×480 image is 0.64 × 0.48 px, finer than any 2D pose
    estimator) and keep the bundled demo small."""

    acc: int = 3
    gyro: int = 4
    coord: int = 3
    score: int = 3


DEFAULT_PRECISION: Final = Precision()


@dataclass(frozen=True)
class Subject:
    id: str
    name: str = ""


@dataclass(frozen=True)
class ImuStream:
    id: str
    t_ns: np.ndarray  # (N,) int64, ascending
    values: np.ndarray  # (N, 6) float64: ax, ay, az [m/s²], gx, gy, gz [rad/s]
    subject: str | None = None
    placement: str = "unknown"
    rate_hz: float = 50.0
    placement_note: str | None = None
    file: str = ""

    @property
    def array(self) -> np.ndarray:
        """(N, 7) float64 ``[t_ns, ax, ay, az, gx, gy, gz]``."""
        return np.column_stack([self.t_ns.astype(np.float64), self.values])

    @property
    def path(self) -> str:
        return self.file or f"imu/{self.id}.csv"


@dataclass(frozen=True)
class PoseStream:
    id: str
    t_ns: np.ndarray  # (M,) int64, ascending (tracks interleaved)
    track: np.ndarray  # (M,) int64
    keypoints: np.ndarray  # (M, 17, 3) float32: x, y (normalised, y down), score
    tracks: Mapping[int, str] = field(default_factory=dict)  # track id -> subject id
    rate_hz: float = 20.0
    layout: str = "coco17"
    file: str = ""

    @property
    def path(self) -> str:
        return self.file or f"pose/{self.id}.csv"

    def for_track(self, track: int) -> tuple[np.ndarray, np.ndarray]:
        mask = self.track == track
        return self.t_ns[mask], self.keypoints[mask]

    def for_subject(self, subject: str) -> tuple[np.ndarray, np.ndarray]:
        """Rows of every track mapped to ``subject`` (in time order)."""
        ids = [t for t, s in self.tracks.items() if s == subject]
        mask = np.isin(self.track, ids)
        return self.t_ns[mask], self.keypoints[mask]


@dataclass(frozen=True)
class LabelInterval:
    subject: str
    start_ns: int
    end_ns: int
    activity: str


@dataclass(frozen=True)
class Recording:
    gateway: str
    start_time: str
    subjects: tuple[Subject, ...]
    devices: tuple[ImuStream, ...]
    cameras: tuple[PoseStream, ...]
    labels: tuple[LabelInterval, ...]
    description: str = ""
    source: Mapping[str, Any] | None = None
    model: str | None = None
    path: Path | None = None

    def device(self, device_id: str) -> ImuStream:
        for d in self.devices:
            if d.id == device_id:
                return d
        raise KeyError(device_id)

    def labels_for(self, subject: str) -> list[LabelInterval]:
        return sorted((iv for iv in self.labels if iv.subject == subject), key=lambda iv: iv.start_ns)


# --------------------------------------------------------------------------------------- write


def _fmt(decimals: int) -> str:
    return f"%.{decimals}f"


def _write_rows(path: Path, header: Sequence[str], leading: Sequence[np.ndarray], values: np.ndarray, formats: Sequence[str]) -> None:
    """Rows of integer ``leading`` columns followed by float ``values`` formatted per column.

    Formatting with fixed decimals (not repr) keeps the output byte-identical across runs and
    platforms, and small."""
    row_fmt = ",".join(["%d"] * len(leading) + list(formats)) + "\n"
    ints = [np.asarray(col, dtype=np.int64).tolist() for col in leading]
    rows = values.reshape(values.shape[0], -1).astype(np.float64).tolist()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(",".join(header) + "\n")
        for i, row in enumerate(rows):
            out.write(row_fmt % (*(col[i] for col in ints), *row))


def write_imu_csv(path: Path, t_ns: np.ndarray, values: np.ndarray, precision: Precision = DEFAULT_PRECISION) -> None:
    _check_stream(path, t_ns, values, (6,))
    formats = [_fmt(precision.acc)] * 3 + [_fmt(precision.gyro)] * 3
    _write_rows(path, IMU_COLUMNS, [t_ns], _no_negative_zero(values, formats), formats)


def write_pose_csv(path: Path, t_ns: np.ndarray, track: np.ndarray, keypoints: np.ndarray, precision: Precision = DEFAULT_PRECISION) -> None:
    _check_stream(path, t_ns, keypoints, (17, 3))
    formats = [_fmt(precision.coord), _fmt(precision.coord), f"%.{precision.score}g"] * 17
    flat = keypoints.reshape(keypoints.shape[0], 51)
    _write_rows(path, POSE_COLUMNS, [t_ns, track], _no_negative_zero(flat, formats), formats)


def _no_negative_zero(values: np.ndarray, formats: Sequence[str]) -> np.ndarray:
    """Round to the written precision so values that print as zero are +0 (no "-0.000")."""
    flat = values.reshape(values.shape[0], -1).astype(np.float64)
    fixed = np.array([f.endswith("f") for f in formats])
    decimals = np.array([int(f[2:-1]) for f in formats])
    scale = 10.0 ** np.where(fixed, decimals, 0)
    rounded = np.where(fixed, np.round(flat * scale) / scale, flat)
    return rounded + 0.0  # -0.0 + 0.0 == +0.0


def _check_stream(path: Path, t_ns: np.ndarray, values: np.ndarray, tail: tuple[int, ...]) -> None:
    if values.shape[1:] != tail or values.shape[0] != t_ns.shape[0]:
        raise ValueError(f"{path}: values {values.shape} do not match t_ns {t_ns.shape} and (N, {tail})")
    if t_ns.size and np.any(np.diff(t_ns) < 0):
        raise ValueError(f"{path}: t_ns must be ascending")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{path}: values contain NaN or infinity")


def write_labels_csv(path: Path, labels: Sequence[LabelInterval]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(",".join(LABEL_COLUMNS) + "\n")
        for iv in labels:
            if "," in iv.subject or "," in iv.activity:
                raise ValueError(f"{path}: subject/activity may not contain commas: {iv}")
            out.write(f"{iv.subject},{int(iv.start_ns)},{int(iv.end_ns)},{iv.activity}\n")


def write_recording(
    directory: Path,
    *,
    gateway: str,
    start_time: str,
    subjects: Sequence[Subject],
    devices: Sequence[ImuStream] = (),
    cameras: Sequence[PoseStream] = (),
    labels: Sequence[LabelInterval] | None = None,
    description: str = "",
    source: Mapping[str, Any] | None = None,
    model: str | None = None,
    precision: Precision = DEFAULT_PRECISION,
) -> Path:
    """Write a complete recording into ``directory`` (created if needed); returns it.

    The output is a pure function of the arguments (stable key order, fixed decimals), so the
    same inputs give the same bytes."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {
        "format": FORMAT_NAME,
        "formatVersion": FORMAT_VERSION,
        "gateway": gateway,
        "startTime": start_time,
        "description": description,
    }
    if source is not None:
        meta["source"] = dict(source)
    meta["subjects"] = [{"id": s.id, "name": s.name} for s in subjects]
    meta["devices"] = []
    for d in devices:
        if d.placement not in PLACEMENTS:
            raise ValueError(f"device {d.id}: placement {d.placement!r} not one of {sorted(PLACEMENTS)}")
        entry: dict[str, Any] = {
            "id": d.id,
            "kind": "imu",
            "file": d.path,
            "subject": d.subject,
            "placement": d.placement,
        }
        if d.placement_note:
            entry["placementNote"] = d.placement_note
        entry["rateHz"] = d.rate_hz
        entry["units"] = dict(IMU_UNITS)
        meta["devices"].append(entry)
        write_imu_csv(directory / d.path, d.t_ns, d.values, precision)
    meta["cameras"] = []
    for c in cameras:
        meta["cameras"].append(
            {
                "id": c.id,
                "kind": "camera",
                "file": c.path,
                "rateHz": c.rate_hz,
                "layout": c.layout,
                "tracks": {str(t): s for t, s in sorted(c.tracks.items())},
            }
        )
        write_pose_csv(directory / c.path, c.t_ns, c.track, c.keypoints, precision)
    if labels is not None:
        meta["labels"] = "labels.csv"
        write_labels_csv(directory / "labels.csv", labels)
    else:
        meta["labels"] = None
    meta["model"] = model
    (directory / "recording.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return directory


# ---------------------------------------------------------------------------------------- read


class RecordingSchemaError(DatasetError):
    """``recording.json`` does not match ``config/schemas/recording.schema.json``."""

    code: Final = "RECORDING_SCHEMA_INVALID"

    def __init__(self, path: Path, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__(path, f"{self.code}: does not match config/schemas/recording.schema.json: {'; '.join(self.problems)}")


def _field(path: Sequence[Any]) -> str:
    """``['devices', 0, 'rateHz']`` → ``devices[0].rateHz`` (the gateway names fields the same way)."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(root)"


def recording_schema_problems(meta: Any) -> list[str]:
    """Every way ``meta`` breaks the recording schema, one line each naming the field."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(RECORDING_SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    problems = []
    for error in sorted(validator.iter_errors(meta), key=lambda e: [str(p) for p in e.absolute_path]):
        # anyOf failures carry their branches in .context; the branch messages say more.
        leaves = error.context or [error]
        for leaf in leaves:
            got = f" (got {leaf.instance!r})" if leaf.validator == "const" else ""
            problems.append(f"{_field(list(leaf.absolute_path))}: {leaf.message}{got}")
    return list(dict.fromkeys(problems))



def read_recording(directory: Path) -> Recording:
    """Read and validate a recording directory."""
    directory = Path(directory)
    meta_path = directory / "recording.json"
    if not meta_path.is_file():
        raise DatasetError(meta_path, "file is missing (is this a recording directory?)")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(meta_path, f"is not valid JSON ({exc})") from exc
    if not isinstance(meta, dict):
        raise DatasetError(meta_path, "top level must be a JSON object")
    problems = recording_schema_problems(meta)
    if problems:
        raise RecordingSchemaError(meta_path, problems)
    if meta.get("format") != FORMAT_NAME:
        raise DatasetError(meta_path, f'"format" must be "{FORMAT_NAME}", got {meta.get("format")!r}')
    if meta.get("formatVersion") != FORMAT_VERSION:
        raise DatasetError(meta_path, f'unsupported "formatVersion" {meta.get("formatVersion")!r} (this reader knows {FORMAT_VERSION})')

    def need(obj: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
        if key not in obj:
            raise DatasetError(meta_path, f'{where}: missing "{key}"')
        value = obj[key]
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            raise DatasetError(meta_path, f'{where}: "{key}" has the wrong type ({type(value).__name__})')
        return value

    gateway = need(meta, "gateway", str, "recording")
    start_time = need(meta, "startTime", str, "recording")
    subjects = tuple(
        Subject(need(s, "id", str, f"subjects[{i}]"), str(s.get("name", "")))
        for i, s in enumerate(need(meta, "subjects", list, "recording"))
    )
    subject_ids = {s.id for s in subjects}

    devices: list[ImuStream] = []
    for i, d in enumerate(need(meta, "devices", list, "recording")):
        where = f"devices[{i}]"
        if need(d, "kind", str, where) != "imu":
            raise DatasetError(meta_path, f'{where}: kind {d["kind"]!r} is not "imu"')
        file = _safe_relative(meta_path, need(d, "file", str, where), where)
        subject = d.get("subject")
        if subject is not None and subject not in subject_ids:
            raise DatasetError(meta_path, f"{where}: subject {subject!r} is not in subjects")
        placement = need(d, "placement", str, where)
        if placement not in PLACEMENTS:
            raise DatasetError(meta_path, f"{where}: placement {placement!r} not one of {sorted(PLACEMENTS)}")
        units = d.get("units", IMU_UNITS)
        if units != IMU_UNITS:
            raise DatasetError(meta_path, f"{where}: units {units!r} must be {IMU_UNITS!r}")
        t_ns, values = read_imu_csv(directory / file)
        devices.append(
            ImuStream(
                id=need(d, "id", str, where),
                t_ns=t_ns,
                values=values,
                subject=subject,
                placement=placement,
                rate_hz=float(need(d, "rateHz", (int, float), where)),
                placement_note=d.get("placementNote"),
                file=file,
            )
        )

    cameras: list[PoseStream] = []
    for i, c in enumerate(meta.get("cameras", [])):
        where = f"cameras[{i}]"
        layout = c.get("layout", "coco17")
        if layout != "coco17":
            raise DatasetError(meta_path, f'{where}: layout {layout!r} is not "coco17"')
        tracks: dict[int, str] = {}
        for key, subject in need(c, "tracks", dict, where).items():
            if not key.lstrip("-").isdigit() or not isinstance(subject, str):
                raise DatasetError(meta_path, f"{where}: track {key!r} → {subject!r} must map an integer id to a subject id")
            if subject not in subject_ids:
                raise DatasetError(meta_path, f"{where}: track {key} maps to unknown subject {subject!r}")
            tracks[int(key)] = subject
        file = _safe_relative(meta_path, need(c, "file", str, where), where)
        t_ns, track, keypoints = read_pose_csv(directory / file)
        cameras.append(
            PoseStream(
                id=need(c, "id", str, where),
                t_ns=t_ns,
                track=track,
                keypoints=keypoints,
                tracks=tracks,
                rate_hz=float(need(c, "rateHz", (int, float), where)),
                layout=layout,
                file=file,
            )
        )

    labels: tuple[LabelInterval, ...] = ()
    labels_file = meta.get("labels")
    if labels_file is not None:
        if not isinstance(labels_file, str):
            raise DatasetError(meta_path, '"labels" must be a file name or null')
        labels = tuple(read_labels_csv(directory / _safe_relative(meta_path, labels_file, "labels"), subject_ids))

    return Recording(
        gateway=gateway,
        start_time=start_time,
        subjects=subjects,
        devices=tuple(devices),
        cameras=tuple(cameras),
        labels=labels,
        description=str(meta.get("description", "")),
        source=meta.get("source"),
        model=meta.get("model"),
        path=directory,
    )


def _safe_relative(meta_path: Path, file: str, where: str) -> str:
    pure = PurePosixPath(file)
    if pure.is_absolute() or ".." in pure.parts:
        raise DatasetError(meta_path, f"{where}: file {file!r} must be a relative path inside the recording")
    return file


def _read_table(path: Path, header: Sequence[str]) -> list[list[str]]:
    if not path.is_file():
        raise DatasetError(path, "file is missing")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DatasetError(path, f"is not UTF-8 text ({exc})") from exc
    lines = text.splitlines()
    if not lines:
        raise DatasetError(path, "is empty (expected a header line)")
    got = lines[0].strip().split(",")
    if got != list(header):
        raise DatasetError(path, f"line 1: header {lines[0]!r} is not {','.join(header)!r}")
    rows: list[list[str]] = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.split(",")
        if len(cells) != len(header):
            raise DatasetError(path, f"line {number}: {len(cells)} columns, expected {len(header)}")
        rows.append(cells)
    return rows


def _numeric(path: Path, rows: list[list[str]], int_columns: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer leading columns (R, int_columns) int64 and the rest (R, C) float64."""
    try:
        ints = np.array([r[:int_columns] for r in rows], dtype=np.int64).reshape(len(rows), int_columns)
        floats = np.array([r[int_columns:] for r in rows], dtype=np.float64)
    except ValueError:
        for number, row in enumerate(rows, start=2):
            for col, cell in enumerate(row):
                try:
                    int(cell) if col < int_columns else float(cell)
                except ValueError:
                    kind = "an integer" if col < int_columns else "a number"
                    raise DatasetError(path, f"line {number}, column {col + 1}: {cell!r} is not {kind}") from None
        raise
    if rows:
        bad = ~np.isfinite(floats)
        if bad.any():
            r, c = np.argwhere(bad)[0]
            raise DatasetError(path, f"line {r + 2}, column {c + int_columns + 1}: value is not finite")
        backwards = np.flatnonzero(np.diff(ints[:, 0]) < 0)
        if backwards.size:
            raise DatasetError(path, f"line {backwards[0] + 3}: t_ns goes backwards")
    return ints, floats.reshape(len(rows), -1)


def read_imu_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(t_ns (N,) int64, values (N, 6) float64)."""
    ints, floats = _numeric(path, _read_table(path, IMU_COLUMNS), 1)
    return ints[:, 0].copy(), floats


def read_pose_csv(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(t_ns (M,) int64, track (M,) int64, keypoints (M, 17, 3) float32)."""
    ints, floats = _numeric(path, _read_table(path, POSE_COLUMNS), 2)
    return ints[:, 0].copy(), ints[:, 1].copy(), floats.reshape(-1, 17, 3).astype(np.float32)


def read_labels_csv(path: Path, subjects: set[str] | None = None) -> list[LabelInterval]:
    out: list[LabelInterval] = []
    for number, (subject, start, end, activity) in enumerate(_read_table(path, LABEL_COLUMNS), start=2):
        try:
            start_ns, end_ns = int(start), int(end)
        except ValueError:
            raise DatasetError(path, f"line {number}: start_ns/end_ns {start!r}, {end!r} are not integers") from None
        if end_ns <= start_ns:
            raise DatasetError(path, f"line {number}: end_ns {end_ns} is not after start_ns {start_ns}")
        if subjects is not None and subject not in subjects:
            raise DatasetError(path, f"line {number}: subject {subject!r} is not in recording.json subjects")
        if not activity:
            raise DatasetError(path, f"line {number}: empty activity")
        out.append(LabelInterval(subject, start_ns, end_ns, activity))
    return out


def activity_at(labels: Sequence[LabelInterval], subject: str, t_ns: int) -> str | None:
    """The activity whose half-open interval contains ``t_ns`` for ``subject``, or None."""
    for iv in labels:
        if iv.subject == subject and iv.start_ns <= t_ns < iv.end_ns:
            return iv.activity
    return None
