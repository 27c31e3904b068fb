"""The UTD-MHAD cross-subject split as paired clips, and the demo recording as stream windows."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import numpy as np

from encoders.models.joint import ClassInfo
from encoders.pairs import IMU_RATE_HZ, IMU_WINDOW, POSE_RATE_HZ, PairedClip, paired_from_utd

UTD_DATA_DESCRIPTION = (
    "UTD-MHAD (Chen, Jafari, Kehtarnavaz, ICIP 2015): 861 clips, 27 actions; wrist (actions 1-21) / "
    "thigh (22-27) IMU at 50 Hz in m/s^2 and rad/s; Kinect v1 skeleton projected to 2D COCO-17 "
    "normalised image coordinates and resampled to 20 Hz"
)
UTD_SPLIT_DESCRIPTION = "cross-subject: train subjects 1,3,5,7; test subjects 2,4,6,8"


@dataclass
class UtdSplit:
    classes: list[ClassInfo]
    train: list[PairedClip]
    test: list[PairedClip]


def utd_classes() -> list[ClassInfo]:
    from encoders.data.utd_mhad import UTD_CLASSES

    return [ClassInfo(c.id, c.name, c.description, c.source_label) for c in UTD_CLASSES]


def load_utd_split(datasets: Path | None = None) -> UtdSplit:
    from encoders.data.utd_mhad import CROSS_SUBJECT_TEST, CROSS_SUBJECT_TRAIN, load_utd_mhad

    clips = paired_from_utd(load_utd_mhad(datasets))
    return UtdSplit(
        classes=utd_classes(),
        train=[c for c in clips if c.subject in CROSS_SUBJECT_TRAIN],
        test=[c for c in clips if c.subject in CROSS_SUBJECT_TEST],
    )


def class_indices(names: Sequence[str | None], classes: Sequence[ClassInfo], where: str) -> np.ndarray:
    """Class ids → indices; unlabelled (None) → -1; an id the model does not know is an error."""
    index = {c.id: i for i, c in enumerate(classes)}
    unknown = sorted({n for n in names if n is not None and n not in index})
    if unknown:
        raise ValueError(f"{where}: unknown class names {unknown}; the model's classes are {[c.id for c in classes]}")
    return np.array([-1 if n is None else index[n] for n in names], dtype=np.int64)


@dataclass
class StreamSet:
    """Labelled stream windows of a recording, pooled over subjects, per modality combination."""

    imu: np.ndarray  # [n, 6, 100] windows where an IMU is present
    imu_labels: np.ndarray
    pose: np.ndarray  # [m, 40, 17, 3]
    pose_labels: np.ndarray
    both_imu: np.ndarray  # windows where both are present, paired row by row
    both_pose: np.ndarray
    both_labels: np.ndarray


def load_stream_windows(recording_dir: Path, classes: Sequence[ClassInfo]) -> StreamSet:
    from encoders.data.recording import read_recording
    from encoders.data.windows import stream_windows

    recording = read_recording(Path(recording_dir))
    parts: dict[str, list] = {k: [] for k in ("imu", "imu_y", "pose", "pose_y", "bi", "bp", "by")}
    for subject in stream_windows(recording):
        names = [None if n is None else class_id_for(n) for n in subject.labels]  # a site's "Bench press" is class bench_press
        y = class_indices(names, classes, f"{recording_dir}/labels.csv")
        imu_streams = [s for s, m in subject.modality.items() if m == "imu"]
        pose_streams = [s for s, m in subject.modality.items() if m == "pose"]
        for s in imu_streams:
            keep = subject.present[s] & (y >= 0)
            parts["imu"].append(np.transpose(subject.data[s][keep], (0, 2, 1)))
            parts["imu_y"].append(y[keep])
        for s in pose_streams:
            keep = subject.present[s] & (y >= 0)
            parts["pose"].append(subject.data[s][keep])
            parts["pose_y"].append(y[keep])
        # Fused windows: the first IMU with the first camera track of this subject.
        if imu_streams and pose_streams:
            si, sp = imu_streams[0], pose_streams[0]
            keep = subject.present[si] & subject.present[sp] & (y >= 0)
            parts["bi"].append(np.transpose(subject.data[si][keep], (0, 2, 1)))
            parts["bp"].append(subject.data[sp][keep])
            parts["by"].append(y[keep])

    def cat(key: str, shape: tuple[int, ...], dtype: type = np.float32) -> np.ndarray:
        return np.ascontiguousarray(np.concatenate(parts[key])) if parts[key] else np.zeros((0,) + shape, dtype=dtype)

    return StreamSet(
        cat("imu", (6, 100)), cat("imu_y", (), np.int64), cat("pose", (40, 17, 3)), cat("pose_y", (), np.int64),
        cat("bi", (6, 100)), cat("bp", (40, 17, 3)), cat("by", (), np.int64),
    )


def class_id_for(label: str) -> str:
    """A recording's activity label as a manifest class id (lower-case, [a-z0-9_])."""
    slug = re.sub(r"[^a-z0-9]+", "_", label.strip().lower()).strip("_")
    if not slug:
        raise ValueError(f"activity label {label!r} has no letters or digits to make a class id from")
    return slug if slug[0].isalnum() else f"c{slug}"


@dataclass
class RecordingClips:
    """Labelled intervals of a recording as training clips, and what was (not) usable."""

    clips: list[PairedClip]
    class_ids: list[str]  # every class named in labels.csv, first-seen order
    names: dict[str, str]  # class id -> the label as written
    skipped: list[str]  # one reason per interval left out
    modalities: dict[str, int]  # "imu+pose" / "imu" / "pose" -> interval count
    subjects: list[str]


#: which streams of a labelled interval are used: all it has, only its IMU, only its pose
Modalities = Literal["any", "imu", "pose"]


def clips_from_recording(recording_dir: Path, classes: Sequence[ClassInfo] | None = None, modalities: Modalities = "any") -> RecordingClips:
    """Each ``labels.csv`` interval becomes one clip: the subject's first IMU resampled to 50 Hz
    and/or its camera track resampled to 20 Hz over the interval.

    ``classes`` None: the class list comes from the labels (a site's own activities); else
    labels map onto those classes and an unknown one is an error. An interval with only an IMU
    or only a camera is kept, with the missing modality marked absent (``has_imu`` /
    ``has_pose``); ``modalities`` = "imu" or "pose" keeps only that stream of every interval.
    """
    from encoders.data.recording import read_recording
    from encoders.data.utd_mhad import interpolate_rows

    if modalities not in get_args(Modalities):
        raise ValueError(f"modalities must be any, imu or pose, got {modalities!r}")
    recording = read_recording(Path(recording_dir))
    where = f"{recording_dir}/labels.csv"
    if not recording.labels:
        raise ValueError(f"{where}: no labelled intervals (label the recording first: docs/teach-your-activities.md)")
    names: dict[str, str] = {}
    for interval in recording.labels:
        names.setdefault(class_id_for(interval.activity), interval.activity)
    if classes is None:
        class_ids = list(names)
        labels = np.array([class_ids.index(class_id_for(i.activity)) for i in recording.labels])
    else:
        class_ids = [c.id for c in classes]
        labels = class_indices([class_id_for(i.activity) for i in recording.labels], classes, where)
    subject_index = {s.id: i for i, s in enumerate(recording.subjects)}
    out = RecordingClips([], class_ids, names, [], {}, sorted({i.subject for i in recording.labels}))
    for line, (interval, label) in enumerate(zip(recording.labels, labels, strict=True), start=2):
        duration_s = (interval.end_ns - interval.start_ns) / 1e9
        n_imu = int(duration_s * IMU_RATE_HZ)
        n_pose = int(n_imu * POSE_RATE_HZ / IMU_RATE_HZ)
        imu_grid = interval.start_ns / 1e9 + np.arange(n_imu) / IMU_RATE_HZ
        pose_grid = interval.start_ns / 1e9 + np.arange(n_pose) / POSE_RATE_HZ
        if n_imu < IMU_WINDOW // 2:
            out.skipped.append(f"{where} line {line}: {duration_s:.2f} s is shorter than a second")
            continue
        imu = pose = None
        placement = "unknown"
        if modalities in ("any", "imu"):
            stream = next((d for d in recording.devices if d.subject == interval.subject), None)
            if stream is not None:
                inside = (stream.t_ns >= interval.start_ns) & (stream.t_ns < interval.end_ns)
                if inside.sum() >= 2:
                    imu = interpolate_rows(stream.values, stream.t_ns / 1e9, imu_grid).astype(np.float32)
                    placement = stream.placement
        if modalities in ("any", "pose"):
            camera = next((c for c in recording.cameras if interval.subject in c.tracks.values()), None)
            if camera is not None:
                pose_t, keypoints = camera.for_subject(interval.subject)
                inside = (pose_t >= interval.start_ns) & (pose_t < interval.end_ns)
                if inside.sum() >= 2:
                    pose = interpolate_rows(keypoints, pose_t / 1e9, pose_grid).astype(np.float32)
        if imu is None and pose is None:
            out.skipped.append(f"{where} line {line}: subject {interval.subject} has no {'IMU or pose' if modalities == 'any' else modalities} samples in the interval")
            continue
        kind = "imu+pose" if imu is not None and pose is not None else "imu" if imu is not None else "pose"
        out.modalities[kind] = out.modalities.get(kind, 0) + 1
        out.clips.append(
            PairedClip(
                f"{interval.subject}@{interval.start_ns}",
                int(label),
                subject_index[interval.subject],
                imu if imu is not None else np.zeros((n_imu, 6), dtype=np.float32),
                pose if pose is not None else np.zeros((n_pose, 17, 3), dtype=np.float32),
                placement,
                has_imu=imu is not None,
                has_pose=pose is not None,
            )
        )
    return out


def paired_from_recording(recording_dir: Path, classes: Sequence[ClassInfo]) -> tuple[list[PairedClip], int]:
    """Intervals with both IMU and pose, labelled with ``classes`` (the older, paired-only API)."""
    found = clips_from_recording(recording_dir, classes)
    paired = [c for c in found.clips if c.has_imu and c.has_pose]
    return paired, len(found.skipped) + len(found.clips) - len(paired)
