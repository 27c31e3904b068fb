"""``enroll``: new classes from a labelled recording in seconds, no retraining.

The trainer-side twin of the gateway's enrollment (same algorithm: :mod:`encoders.enroll`).
Prototypes come from the recording's intervals per modality; the open-set threshold comes from
the same examples by leave-one-interval-out (each interval scored against prototypes built
without it — the way a new session of the same people will look), so it needs classes with at
least two intervals. The result is an exported model directory with an ``enrollment`` section.
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from encoders.checkpoint import load_checkpoint, resolve_checkpoint
from encoders.data.paths import default_model_dir
from encoders.enroll import MODALITIES, PrototypeSet, enroll
from encoders.export import DEFAULT_MODEL_VERSION, Parity, export_model
from encoders.finetune import example_embeddings
from encoders.finetune_recording import load_descriptions, parity_windows_from_recording, recording_classes
from encoders.models.joint import JointModel
from encoders.openset import DEFAULT_TARGET_KNOWN_REJECTION, calibrate_thresholds, combo_cosines, scores_of
from encoders.splits import UTD_DATA_DESCRIPTION, Modalities, clips_from_recording

#: Fewer held-out windows than this per modality set and the parent's threshold is kept.
MIN_CALIBRATION_WINDOWS = 20


@dataclass(frozen=True)
class RecordingEnrollment:
    """``enroll``: which model gets which recording's classes, and where the result goes."""

    recording: Path
    #: model directory to write
    out: Path
    #: model directory (with its checkpoint) or checkpoint to enroll into
    model: Path = default_model_dir()
    name: str | None = None
    model_version: str = DEFAULT_MODEL_VERSION
    parent_version: str = DEFAULT_MODEL_VERSION
    #: keep the parent's classes next to the new ones (default: only the recording's classes)
    keep_parent_classes: bool = False
    modalities: Modalities = "any"
    descriptions: Path | None = None
    #: share of known windows the open-set threshold may reject
    target_rejection: float = DEFAULT_TARGET_KNOWN_REJECTION
    parity: Parity = "auto"


def leave_one_out_scores(protos: PrototypeSet, per_interval: list[tuple[str, dict[str, np.ndarray]]]) -> dict[str, np.ndarray]:
    """Top-class cosines of each interval's windows against prototypes enrolled without it."""
    scores: dict[str, list[np.ndarray]] = {"imu": [], "pose": [], "imu+pose": []}
    for i, (cid, emb) in enumerate(per_interval):
        others = [e for j, (c, e) in enumerate(per_interval) if c == cid and j != i]
        if not others:
            continue
        pooled = {m: np.concatenate([o[m] for o in others if len(o[m])]) for m in MODALITIES if any(len(o[m]) for o in others)}
        held_out = enroll(protos, cid, pooled)
        present = {m: e for m, e in emb.items() if len(e)}
        for combo, cos in combo_cosines(held_out, present).items():
            if combo != "imu+pose" or len(present.get("imu", [])) == len(present.get("pose", [])):
                scores[combo].append(scores_of(cos))
    return {k: np.concatenate(v) for k, v in scores.items() if v}


def enroll_from_recording(run: RecordingEnrollment, command: str) -> dict:
    base, base_extra = load_checkpoint(resolve_checkpoint(run.model))
    found = clips_from_recording(run.recording, None, run.modalities)
    for reason in found.skipped:
        print(f"skipped: {reason}")
    if not found.clips:
        raise ValueError(f"{run.recording}: no labelled interval has IMU or pose samples to enroll from")
    new_classes = recording_classes(found, load_descriptions(run.descriptions))
    if run.keep_parent_classes:
        protos = PrototypeSet.from_anchors([c.id for c in base.classes], base.prototypes().detach().numpy())
        classes = list(base.classes)
    else:
        protos = PrototypeSet([], np.zeros((0, base.config.embedding_dim)), {}, {})
        classes = []
    per_interval: list[tuple[str, dict[str, np.ndarray]]] = []
    provenance = []
    for label, cls in enumerate(new_classes):
        clips = [c for c in found.clips if c.label == label]
        embeddings = [example_embeddings(base, [c]) for c in clips]
        per_interval += [(cls.id, e) for e in embeddings]
        pooled = {m: np.concatenate([e[m] for e in embeddings]) for m in MODALITIES}
        protos = enroll(protos, cls.id, pooled)
        if cls.id in [c.id for c in classes]:  # a parent class re-enrolled keeps its place
            classes = [cls if c.id == cls.id else c for c in classes]
        else:
            classes.append(cls)
        provenance.append(
            {
                "id": cls.id,
                "k": len(clips),
                "modalities": list(protos.enrolled[cls.id]),
                "source": {"recording": Path(run.recording).resolve().name, "intervals": [c.key for c in clips], "windows": {m: int(len(pooled[m])) for m in MODALITIES}},
            }
        )
    order = [c.id for c in classes]
    protos = _reorder(protos, order)
    if len(classes) < 2:
        raise ValueError(f"{run.recording}: a model needs at least two classes, got {order}")
    loo = leave_one_out_scores(protos, per_interval)
    open_set = None
    parent_thresholds = _parent_thresholds(Path(run.model))
    # A quantile of a handful of held-out windows is noise (k = 1-2 short intervals gave 0.91 on
    # a smartwatch recording, rejecting everything from another person): below
    # MIN_CALIBRATION_WINDOWS a modality set keeps the parent model's threshold, when it has one.
    loo = {combo: sc for combo, sc in loo.items() if len(sc) >= MIN_CALIBRATION_WINDOWS or combo not in parent_thresholds}
    if loo or parent_thresholds:
        thresholds = {**parent_thresholds, **(calibrate_thresholds(loo, run.target_rejection) if loo else {})}
        open_set = {
            "score": "max-cosine",
            "thresholds": thresholds,
            "calibration": {
                "data": f"leave-one-interval-out on the enrollment examples of {Path(run.recording).resolve().name} (classes with two or more intervals; modality sets with fewer than {MIN_CALIBRATION_WINDOWS} held-out windows keep the parent's threshold)",
                "targetKnownRejection": run.target_rejection,
                "measured": {combo: {"windows": int(len(s))} for combo, s in loo.items()},
            },
        }
    else:
        print("note: no class has two intervals and the parent has no thresholds, so none could be learnt (the model never says unknown)")
    model = JointModel(copy.deepcopy(base.config), classes, protos.shared.astype(np.float32))
    model.load_state_dict({k: v for k, v in base.state_dict().items() if k != "anchors"}, strict=False)
    model.eval()
    parent_name = Path(run.model).name if Path(run.model).is_dir() else Path(run.model).stem
    created = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    training = dict(base_extra.get("training") or {})
    parent_data = training.get("data") or UTD_DATA_DESCRIPTION
    training = {
        "data": f"encoders: {parent_data}. Classes {', '.join(c.id for c in new_classes)} enrolled without retraining from recording {Path(run.recording).resolve().name} ({len(found.clips)} intervals of subjects {', '.join(found.subjects)})",
        "split": "enrollment examples: every labelled interval of the recording; open-set threshold by leave-one-interval-out on them",
        "command": command,
        "seed": int(base_extra.get("train", {}).get("seed", 0)),
        "strategy": "enrollment (prototype = normalised mean of the examples' window embeddings, per modality)",
        "metrics": {},
    }
    extra = {**base_extra, "training": training, "recording": str(Path(run.recording).resolve()), "command": command, "description": f"{parent_name} + enrolled classes {', '.join(c.id for c in new_classes)}"}
    imu, pose = parity_windows_from_recording(run.recording, model)
    enrollment = {"parent": {"name": parent_name, "version": run.parent_version}, "createdAt": created, "classes": provenance}
    manifest = export_model(
        model, run.out, name=run.name or Path(run.out).name, version=run.model_version, imu_windows=imu, pose_windows=pose, training=training,
        description=extra["description"], prototypes=protos, open_set=open_set, enrollment=enrollment, checkpoint_extra=extra, parity=run.parity,
    )
    for p in provenance:
        print(f"enrolled {p['id']}: k={p['k']} intervals, windows {p['source']['windows']}")
    if open_set:
        print(f"open-set thresholds {open_set['thresholds']}")
    print(f"exported {run.out}")
    return manifest


def _reorder(protos: PrototypeSet, order: list[str]) -> PrototypeSet:
    index = [protos.class_ids.index(c) for c in order]
    out = protos.copy()
    out.class_ids = list(order)
    out.shared = protos.shared[index]
    out.modalities = {m: p[index] for m, p in protos.modalities.items()}
    return out


def _parent_thresholds(model: Path) -> dict[str, float]:
    """The open-set thresholds of the parent model directory's manifest, if any."""
    manifest = model / "manifest.json" if model.is_dir() else model.parent / "manifest.json"
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): float(v) for k, v in ((data.get("openSet") or {}).get("thresholds") or {}).items()}
