"""Repetition sets with an exact count, built from real UTD-MHAD clips.

Each UTD-MHAD clip holds one repetition of one action, segmented by the dataset's authors
(rest, one movement, rest). Playing one subject's clips of one action back to back therefore
makes a set whose repetition count is known exactly. How a set of ``n`` reps is built:

* the subject's trials of the action (3-4) are shuffled and cycled until there are ``n``;
* ``tight`` sets: clip after clip, no pause and no time change;
* ``pauses`` sets: a still pause of 0.3-2.0 s (uniform) between reps;
* ``jitter`` sets: each rep time-stretched by a factor in 0.8-1.25 (uniform, linear
  interpolation of IMU and pose) and a pause of 0-0.8 s.

Between two reps (and during a pause) the signals ramp linearly from the last sample of one
clip to the first of the next, so no step is introduced; the still part carries Gaussian noise
with the standard deviation measured over the first 0.2 s of the next clip (the sensor's own
rest noise). Sets of one subject follow each other with 6 s of such rest between them.

Output: a recording (docs/recording-format.md; one IMU device and one pose track per subject,
IMU at 50 Hz, pose resampled to 20 Hz, ``labels.csv`` = one interval per set) plus
``sets.json``: per set its subject, action, variant, count, start/end and the end time of
every rep (the end of its clip). Deterministic for the same seed and data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from .recording import ImuStream, LabelInterval, PoseStream, Subject, read_recording, write_recording
from .utd_mhad import IMU_RATE_HZ, UTD_CLASSES, Clip, interpolate_rows, load_utd_mhad, placement_for
from .windows import NS_PER_S, POSE_WINDOW

#: pose is written at the pose encoder's rate (the IMU keeps UTD-MHAD's own 50 Hz)
POSE_RATE_HZ: Final = POSE_WINDOW.rate_hz
# Actions where one clip is one repetition of a movement that is repeated in a gym or clinic.
REP_ACTIONS: Final = (16, 18, 26, 27)  # arm_curl, push, lunge, squat
VARIANTS: Final = ("tight", "pauses", "jitter")
SETS_PER_VARIANT: Final = 2
SET_GAP_S: Final = 6.0
RAMP_S: Final = 0.1


@dataclass
class _Piece:
    imu: np.ndarray  # (N, 6) on the 50 Hz grid
    pose: np.ndarray  # (M, 17, 3) on the 20 Hz grid


def _stretch(clip: Clip, factor: float) -> _Piece:
    duration = clip.duration_s * factor
    imu_t = np.arange(clip.imu.shape[0]) / IMU_RATE_HZ * factor
    n = max(2, int(round(duration * IMU_RATE_HZ)))
    imu = interpolate_rows(clip.imu, imu_t, np.arange(n) / IMU_RATE_HZ)
    m = max(2, int(round(duration * POSE_RATE_HZ)))
    pose = interpolate_rows(clip.pose, clip.pose_times_s * factor, np.arange(m) / POSE_RATE_HZ)
    return _Piece(imu, pose.reshape(m, 17, 3))


def _ramp(a: np.ndarray, b: np.ndarray, count: int, noise: np.ndarray | float, rng: np.random.Generator) -> np.ndarray:
    w = (np.arange(1, count + 1) / (count + 1)).reshape((-1,) + (1,) * a.ndim)
    out = a[None] * (1 - w) + b[None] * w
    return out + rng.normal(size=out.shape) * noise


def _pause(prev: _Piece, nxt: _Piece, seconds: float, rng: np.random.Generator) -> _Piece:
    imu_noise = nxt.imu[: int(0.2 * IMU_RATE_HZ)].std(axis=0)
    pose_noise = nxt.pose[: max(2, int(0.2 * POSE_RATE_HZ))].std(axis=0)
    pose_noise[..., 2] = 0.0
    imu = _ramp(prev.imu[-1], nxt.imu[0], max(1, int(round(seconds * IMU_RATE_HZ))), imu_noise, rng)
    pose = _ramp(prev.pose[-1], nxt.pose[0], max(1, int(round(seconds * POSE_RATE_HZ))), pose_noise, rng)
    pose[..., 2] = nxt.pose[0, :, 2]
    return _Piece(imu, pose)


@dataclass
class RepSet:
    subject: int
    action: int
    variant: str
    clips: list[str]
    start_s: float
    end_s: float
    rep_ends_s: list[float]

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": f"s{self.subject}",
            "activity": UTD_CLASSES[self.action - 1].id,
            "variant": self.variant,
            "count": len(self.rep_ends_s),
            "startNs": int(round(self.start_s * NS_PER_S)),
            "endNs": int(round(self.end_s * NS_PER_S)),
            "repEndsNs": [int(round(t * NS_PER_S)) for t in self.rep_ends_s],
            "clips": self.clips,
        }


def build_subject(
    clips: list[Clip],
    subject: int,
    rng: np.random.Generator,
    counts: tuple[int, int],
    actions: tuple[int, ...] = REP_ACTIONS,
    variants: tuple[str, ...] = VARIANTS * SETS_PER_VARIANT,
) -> tuple[list[_Piece], list[RepSet]]:
    """Every set of one subject, in a fixed order, with rests between sets."""
    pieces: list[_Piece] = []
    sets: list[RepSet] = []
    t = 0.0
    last: _Piece | None = None
    for action in actions:
        trials = sorted((c for c in clips if c.subject == subject and c.action == action), key=lambda c: c.trial)
        if not trials:
            continue
        for variant in variants:
            n = int(rng.integers(counts[0], counts[1] + 1))
            order = [trials[i] for i in rng.permutation(len(trials))]
            chosen = [order[i % len(order)] for i in range(n)]
            rep_ends: list[float] = []
            start = 0.0
            for k, clip in enumerate(chosen):
                factor = float(rng.uniform(0.8, 1.25)) if variant == "jitter" else 1.0
                piece = _stretch(clip, factor)
                if last is not None:
                    if k == 0:
                        gap = SET_GAP_S
                    elif variant == "pauses":
                        gap = float(rng.uniform(0.3, 2.0))
                    elif variant == "jitter":
                        gap = float(rng.uniform(0.0, 0.8))
                    else:
                        gap = 0.0
                    filler = _pause(last, piece, max(gap, RAMP_S), rng)
                    pieces.append(filler)
                    t += filler.imu.shape[0] / IMU_RATE_HZ
                if k == 0:
                    start = t
                pieces.append(piece)
                t += piece.imu.shape[0] / IMU_RATE_HZ
                rep_ends.append(t)
                last = piece
            sets.append(RepSet(subject, action, variant, [c.key for c in chosen], start, t, rep_ends))
    if last is not None:  # trailing rest, so the last set is followed by stillness too
        filler = _pause(last, last, SET_GAP_S, rng)
        pieces.append(filler)
    return pieces, sets


def _concat_pose(pieces: list[_Piece], imu_lengths: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Pose frames on each piece's own 20 Hz grid, placed at the piece's IMU start time."""
    times: list[np.ndarray] = []
    frames: list[np.ndarray] = []
    offset = 0
    for piece, length in zip(pieces, imu_lengths, strict=True):
        start_ns = offset * NS_PER_S // int(IMU_RATE_HZ)
        end_ns = (offset + length) * NS_PER_S // int(IMU_RATE_HZ)
        t = start_ns + (np.arange(piece.pose.shape[0]) * NS_PER_S / POSE_RATE_HZ).astype(np.int64)
        keep = t < end_ns
        times.append(t[keep])
        frames.append(piece.pose[keep])
        offset += length
    return np.concatenate(times), np.concatenate(frames).astype(np.float32)


def make_rep_sets(
    out: Path,
    *,
    datasets: Path | None,
    subjects: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8),
    seed: int = 0,
    counts: tuple[int, int] = (4, 12),
    command: str = "",
) -> Path:
    """The evaluation sets of bench/reps: every subject, REP_ACTIONS, each variant twice."""
    clips = [c for c in load_utd_mhad(datasets, subjects=subjects) if c.action in REP_ACTIONS]
    return write_rep_sets(out, clips, subjects=subjects, seed=seed, counts=counts, command=command)


def clips_from_recording(directory: Path, subject: str, activities: tuple[str, ...]) -> list[Clip]:
    """The labelled clips of one subject in a recording (e.g. the demo), as UTD-MHAD clips."""
    rec = read_recording(Path(directory))
    imu = next(d for d in rec.devices if d.subject == subject)
    camera = rec.cameras[0]
    track = next(t for t, sid in camera.tracks.items() if sid == subject)
    rows = camera.track == track
    pose_t, pose_kp = camera.t_ns[rows], camera.keypoints[rows]
    ids = [c.id for c in UTD_CLASSES]
    clips: list[Clip] = []
    for label in (iv for iv in rec.labels if iv.subject == subject and iv.activity in activities):
        sel = (imu.t_ns >= label.start_ns) & (imu.t_ns < label.end_ns)
        psel = (pose_t >= label.start_ns) & (pose_t < label.end_ns)
        action = ids.index(label.activity) + 1
        clips.append(
            Clip(
                action=action,
                subject=int(subject.lstrip("s")),
                trial=1 + sum(c.action == action for c in clips),
                imu=imu.values[sel].astype(np.float32),
                pose=pose_kp[psel],
                pose_times_s=(pose_t[psel] - label.start_ns) / NS_PER_S,
                placement=placement_for(action),
            )
        )
    return clips


def make_rep_fixture(
    out: Path, *, recording: Path, subject: str = "s2", activities: tuple[str, ...] = ("arm_curl", "squat"), reps: int = 6, command: str = ""
) -> Path:
    """A small fixture from a recording (no dataset needed): one set with pauses per activity."""
    clips = clips_from_recording(recording, subject, activities)
    number = int(subject.lstrip("s"))
    ids = [c.id for c in UTD_CLASSES]
    actions = tuple(ids.index(a) + 1 for a in activities)
    return write_rep_sets(
        out, clips, subjects=(number,), seed=0, counts=(reps, reps), command=command, actions=actions, variants=("pauses",)
    )


def write_rep_sets(
    out: Path,
    clips: list[Clip],
    *,
    subjects: tuple[int, ...],
    seed: int,
    counts: tuple[int, int],
    command: str,
    actions: tuple[int, ...] = REP_ACTIONS,
    variants: tuple[str, ...] = VARIANTS * SETS_PER_VARIANT,
) -> Path:
    devices: list[ImuStream] = []
    pose_t: list[np.ndarray] = []
    pose_track: list[np.ndarray] = []
    pose_kp: list[np.ndarray] = []
    labels: list[LabelInterval] = []
    all_sets: list[dict[str, Any]] = []
    for subject in subjects:
        rng = np.random.default_rng([seed, subject])
        pieces, sets = build_subject(clips, subject, rng, counts, actions, variants)
        if not pieces:
            continue
        lengths = [p.imu.shape[0] for p in pieces]
        imu = np.concatenate([p.imu for p in pieces])
        t_ns = np.arange(imu.shape[0], dtype=np.int64) * (NS_PER_S // int(IMU_RATE_HZ))
        sid = f"s{subject}"
        devices.append(ImuStream(id=f"imu-{sid}", t_ns=t_ns, values=imu, subject=sid, placement="wrist", rate_hz=IMU_RATE_HZ,
                                 placement_note="right wrist for arm_curl and push, right thigh for lunge and squat"))
        pt, pk = _concat_pose(pieces, lengths)
        pose_t.append(pt)
        pose_track.append(np.full(pt.shape[0], subject, dtype=np.int64))
        pose_kp.append(pk)
        for s in sets:
            j = s.to_json()
            labels.append(LabelInterval(sid, j["startNs"], j["endNs"], j["activity"]))
            all_sets.append(j)
    t_all = np.concatenate(pose_t)
    tr_all = np.concatenate(pose_track)
    order = np.lexsort((tr_all, t_all))
    camera = PoseStream(id="cam1", t_ns=t_all[order], track=tr_all[order], keypoints=np.concatenate(pose_kp)[order],
                        tracks={s: f"s{s}" for s in subjects}, rate_hz=POSE_RATE_HZ)
    source = {
        "dataset": "UTD-MHAD",
        "citation": "C. Chen, R. Jafari, N. Kehtarnavaz. UTD-MHAD: A Multimodal Dataset for Human Action "
        "Recognition Utilizing a Depth Camera and a Wearable Inertial Sensor. ICIP 2015.",
        "subjects": list(subjects),
        "seed": seed,
        "command": command,
        "sets": "encoders/data/rep_sets.py: one clip = one repetition; variants tight / pauses 0.3-2 s / time jitter 0.8-1.25x",
    }
    write_recording(
        out,
        gateway="rep-sets",
        start_time="2026-01-01T00:00:00.000Z",
        description="Repetition sets with an exact count: UTD-MHAD clips of one subject and action played back to back.",
        source=source,
        subjects=[Subject(f"s{s}", f"UTD-MHAD subject {s}") for s in subjects],
        devices=devices,
        cameras=[camera],
        labels=sorted(labels, key=lambda iv: (iv.start_ns, iv.subject)),
    )
    (out / "sets.json").write_text(json.dumps({"seed": seed, "command": command, "sets": all_sets}, indent=1) + "\n")
    return out
