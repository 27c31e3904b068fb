"""Build the bundled demo recording from real UTD-MHAD data.

Each UTD-MHAD test subject becomes one person in a shared scene: that subject's clips are
played back-to-back in a seeded shuffled order, their wrist/thigh IMU is device ``imu-s<k>``
and their projected skeleton is track ``k`` of camera ``cam1``. Pose rows keep each clip's own
frame times (11-21 fps, median 19, varying per clip) so the gateway's resampler has real work to do.
All subjects share one timeline starting at 0; they were recorded separately, so their
projected skeletons overlap in the image (the gateway's tracks come from the file, so this
does not matter for replay).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np

from .pose_projection import FOCAL_LENGTH_PX, IMAGE_HEIGHT_PX, IMAGE_WIDTH_PX
from .recording import DEFAULT_PRECISION, ImuStream, LabelInterval, PoseStream, Precision, Subject, write_recording
from .utd_mhad import CROSS_SUBJECT_TEST, IMU_RATE_HZ, Clip, load_utd_mhad
from .windows import NS_PER_S

DEFAULT_START_TIME: Final = "2026-01-01T00:00:00.000Z"
DEFAULT_SEED: Final = 0
IMU_PERIOD_NS: Final = round(NS_PER_S / IMU_RATE_HZ)
CAMERA_ID: Final = "cam1"
THIGH_NOTE: Final = (
    "UTD-MHAD moves the sensor from the right wrist to the right thigh for actions 22-27 "
    "(jog, walk, sit_to_stand, stand_to_sit, lunge, squat)."
)


@dataclass(frozen=True)
class SubjectTimeline:
    subject: int
    clips: tuple[Clip, ...]  # in playback order
    starts_ns: tuple[int, ...]  # start of each clip on the recording's time base

    @property
    def subject_id(self) -> str:
        return f"s{self.subject}"


def playback_order(clips: Sequence[Clip], subject: int, seed: int) -> list[Clip]:
    """The subject's clips in a shuffled order that depends only on (seed, subject)."""
    own = sorted((c for c in clips if c.subject == subject), key=lambda c: (c.action, c.trial))
    order = np.random.default_rng([seed, subject]).permutation(len(own))
    return [own[i] for i in order]


def build_timeline(clips: Sequence[Clip], subject: int, seed: int) -> SubjectTimeline:
    ordered = playback_order(clips, subject, seed)
    starts: list[int] = []
    t = 0
    for clip in ordered:
        starts.append(t)
        t += clip.imu.shape[0] * IMU_PERIOD_NS  # back-to-back: next clip starts after the last sample period
    return SubjectTimeline(subject, tuple(ordered), tuple(starts))


def imu_stream(timeline: SubjectTimeline) -> ImuStream:
    t_ns = np.concatenate(
        [start + np.arange(c.imu.shape[0], dtype=np.int64) * IMU_PERIOD_NS for c, start in zip(timeline.clips, timeline.starts_ns, strict=True)]
    )
    values = np.concatenate([c.imu for c in timeline.clips]).astype(np.float64)
    return ImuStream(
        id=f"imu-{timeline.subject_id}",
        t_ns=t_ns,
        values=values,
        subject=timeline.subject_id,
        placement="wrist",
        rate_hz=IMU_RATE_HZ,
        placement_note=THIGH_NOTE,
    )


def pose_stream(timelines: Sequence[SubjectTimeline]) -> PoseStream:
    times: list[np.ndarray] = []
    tracks: list[np.ndarray] = []
    keypoints: list[np.ndarray] = []
    for tl in timelines:
        for clip, start in zip(tl.clips, tl.starts_ns, strict=True):
            times.append(start + np.round(clip.pose_times_s * NS_PER_S).astype(np.int64))
            tracks.append(np.full(clip.pose.shape[0], tl.subject, dtype=np.int64))
            keypoints.append(clip.pose)
    t_ns = np.concatenate(times)
    track = np.concatenate(tracks)
    order = np.lexsort((track, t_ns))  # by time, ties by track: a stable, documented row order
    all_clips = [c for tl in timelines for c in tl.clips]
    fps = np.median([c.pose.shape[0] / c.duration_s for c in all_clips])
    return PoseStream(
        id=CAMERA_ID,
        t_ns=t_ns[order],
        track=track[order],
        keypoints=np.concatenate(keypoints)[order],
        tracks={tl.subject: tl.subject_id for tl in timelines},
        rate_hz=float(round(fps)),
    )


def labels(timelines: Sequence[SubjectTimeline]) -> list[LabelInterval]:
    out: list[LabelInterval] = []
    for tl in timelines:
        for clip, start in zip(tl.clips, tl.starts_ns, strict=True):
            out.append(
                LabelInterval(tl.subject_id, start, start + clip.imu.shape[0] * IMU_PERIOD_NS, clip.class_info.id)
            )
    return out


def command_line(out: Path | str, subjects: Sequence[int], seed: int) -> str:
    args = ["python3", "-m", "encoders", "make-recording", "--out", str(out), "--seed", str(seed)]
    if tuple(subjects) != CROSS_SUBJECT_TEST:
        args += ["--subjects", ",".join(str(s) for s in subjects)]
    return shlex.join(args)


def make_recording(
    out: Path,
    *,
    subjects: Sequence[int] = CROSS_SUBJECT_TEST,
    seed: int = DEFAULT_SEED,
    datasets: Path | None = None,
    start_time: str = DEFAULT_START_TIME,
    command_out: str | None = None,
    precision: Precision = DEFAULT_PRECISION,
) -> Path:
    """Write the demo recording into ``out``; deterministic for the same arguments and data.

    ``command_out`` is the ``--out`` value written into the provenance (default ``out``), so a
    recording built into a temporary directory can carry the command that rebuilds it in place."""
    subjects = tuple(sorted(int(s) for s in subjects))
    clips = load_utd_mhad(datasets, subjects=subjects)
    timelines = [build_timeline(clips, s, seed) for s in subjects]
    source = {
        "dataset": "UTD-MHAD",
        "citation": "C. Chen, R. Jafari, N. Kehtarnavaz. UTD-MHAD: A Multimodal Dataset for Human Action "
        "Recognition Utilizing a Depth Camera and a Wearable Inertial Sensor. ICIP 2015.",
        "subjects": list(subjects),
        "split": "cross-subject test" if subjects == CROSS_SUBJECT_TEST else "custom",
        "seed": seed,
        "command": command_line(command_out if command_out is not None else out, subjects, seed),
        "imu": "d_iner converted from g and deg/s to m/s^2 (x 9.80665) and rad/s; 50 Hz",
        "pose": (
            f"Kinect v1 skeleton projected to COCO-17 with a pinhole camera f={FOCAL_LENGTH_PX} px, "
            f"{IMAGE_WIDTH_PX}x{IMAGE_HEIGHT_PX}, principal point at the centre; eyes/ears synthesized "
            "(score 0.5); each clip's frames spread evenly over its IMU duration"
        ),
        "clips": {tl.subject_id: [c.key for c in tl.clips] for tl in timelines},
    }
    return write_recording(
        out,
        gateway="demo",
        start_time=start_time,
        description=(
            "UTD-MHAD cross-subject test subjects performing all 27 actions back-to-back "
            "(wrist/thigh IMU + camera pose projected from the Kinect skeleton)."
        ),
        source=source,
        subjects=[Subject(tl.subject_id, f"UTD-MHAD subject {tl.subject}") for tl in timelines],
        devices=[imu_stream(tl) for tl in timelines],
        cameras=[pose_stream(timelines)],
        labels=labels(timelines),
        precision=precision,
    )
