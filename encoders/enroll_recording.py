"""``enroll``: new classes from a labelled recording in seconds, no retraining.

The trainer-side twin of the gateway's enrollment (same algorithm: :mod:`encoders.enroll`).
Prototypes come from the recording's intervals per modality; the open-set threshold comes from
the same examples by leave-one-interval-out (each interval scored against prototypes built
without it — the way a new session of the same people will look), so it needs classes with at
least two intervals. The result is an exported model directory with an ``enrollment`` section.
"""

from __future__ import annotations

import argparse
import copy
import datetime as _dt
import json
from pathlib import Path

import numpy as np

from encoders.enroll import MODALITIES, PrototypeSet, enroll
from encoders.finetune import example_embeddings
from encoders.models.joint import ClassInfo, JointModel
from encoders.openset import DEFAULT_TARGET_KNOWN_REJECTION, calibrate_thresholds, combo_cosines, scores_of


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


def enroll_from_recording(args: argparse.Namespace, command: str) -> dict:
    from encoders.checkpoint import load_checkpoint
    from encoders.cli import resolve_checkpoint
    from encoders.export import export_model
    from encoders.finetune_recording import load_descriptions, parity_windows_from_recording, recording_classes
    from encoders.splits import clips_from_recording

    base, base_extra = load_checkpoint(resolve_checkpoint(args.model))
    found = clips_from_recording(args.recording, None, args.modalities)
    for reason in found.skipped:
        print(f"skipped: {reason}")
    if not found.clips:
        raise ValueError(f"{args.recording}: no labelled interval has IMU or pose samples to enroll from")
    new_classes = recording_classes(found, load_descriptions(args.descriptions))
    if args.keep_parent_classes:
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
                "source": {"recording": Path(args.recording).resolve().name, "intervals": [c.key for c in clips], "windows": {m: int(len(pooled[m])) for m in MODALITIES}},
            }
        )
    order = [c.id for c in classes]
    protos = _reorder(protos, order)
    if len(classes) < 2:
        raise ValueError(f"{args.recording}: a model needs at least two classes, got {order}")
    loo = leave_one_out_scores(protos, per_interval)
    open_set = None
    parent_thresholds = _parent_thresholds(Path(args.model))
    # A quantile of a handful of held-out windows is noise (k = 1-2 short intervals gave 0.91 on
    # a smartwatch recording, rejecting everything from another person): below
    # MIN_CALIBRATION_WINDOWS a modality set keeps the parent model's threshold, when it has one.
    loo = {combo: sc for combo, sc in loo.items() if len(sc) >= MIN_CALIBRATION_WINDOWS or combo not in parent_thresholds}
    if loo or parent_thresholds:
        thresholds = {**parent_thresholds, **(calibrate_thresholds(loo, args.target_rejection) if loo else {})}
        open_set = {
            "score": "max-cosine",
            "thresholds": thresholds,
            "calibration": {
                "data": f"leave-one-interval-out on the enrollment examples of {Path(args.recording).resolve().name} (classes with two or more intervals; modality sets with fewer than {MIN_CALIBRATION_WINDOWS} held-out windows keep the parent's threshold)",
                "targetKnownRejection": args.target_rejection,
                "measured": {combo: {"windows": int(len(s))} for combo, s in loo.items()},
            },
        }
    else:
        print("note: no class has two intervals and the parent has no thresholds, so none could be learnt (the model never says unknown)")
    model = JointModel(copy.deepcopy(base.config), classes, protos.shared.astype(np.float32))
    model.load_state_dict({k: v for k, v in base.state_dict().items() if k != "anchors"}, strict=False)
    model.eval()
    parent_name = Path(args.model).name if Path(args.model).is_dir() else Path(args.model).stem
    created = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    training = dict(base_extra.get("training") or {})
    from encoders.splits import UTD_DATA_DESCRIPTION

    parent_data = training.get("data") or UTD_DATA_DESCRIPTION
    training = {
        "data": f"encoders: {parent_data}. Classes {', '.join(c.id for c in new_classes)} enrolled without retraining from recording {Path(args.recording).resolve().name} ({len(found.clips)} intervals of subjects {', '.join(found.subjects)})",
        "split": "enrollment examples: every labelled interval of the recording; open-set threshold by leave-one-interval-out on them",
        "command": command,
        "seed": int(base_extra.get("train", {}).get("seed", 0)),
        "strategy": "enrollment (prototype = normalised mean of the examples' window embeddings, per modality)",
        "metrics": {},
    }
    extra = {**base_extra, "training": training, "recording": str(Path(args.recording).resolve()), "command": command, "description": f"{parent_name} + enrolled classes {', '.join(c.id for c in new_classes)}"}
    imu, pose = parity_windows_from_recording(args.recording, model)
    enrollment = {"parent": {"name": parent_name, "version": args.parent_version}, "createdAt": created, "classes": provenance}
    manifest = export_model(
        model, args.out, name=args.name or Path(args.out).name, version=args.model_version, imu_windows=imu, pose_windows=pose, training=training,
        description=extra["description"], prototypes=protos, open_set=open_set, enrollment=enrollment, checkpoint_extra=extra, parity=args.parity,
    )
    for p in provenance:
        print(f"enrolled {p['id']}: k={p['k']} intervals, windows {p['source']['windows']}")
    if open_set:
        print(f"open-set thresholds {open_set['thresholds']}")
    print(f"exported {args.out}")
    return manifest


def _reorder(protos: PrototypeSet, order: list[str]) -> PrototypeSet:
    index = [protos.class_ids.index(c) for c in order]
    out = protos.copy()
    out.class_ids = list(order)
    out.shared = protos.shared[index]
    out.modalities = {m: p[index] for m, p in protos.modalities.items()}
    return out


#: Fewer held-out windows than this per modality set and the parent's threshold is kept.
MIN_CALIBRATION_WINDOWS = 20


def _parent_thresholds(model: Path) -> dict[str, float]:
    """The open-set thresholds of the parent model directory's manifest, if any."""
    manifest = model / "manifest.json" if model.is_dir() else model.parent / "manifest.json"
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): float(v) for k, v in ((data.get("openSet") or {}).get("thresholds") or {}).items()}


def register(sub) -> None:
    from encoders.cli import REPO_ROOT

    p = sub.add_parser("enroll", help="add a recording's classes to a model as prototypes (no retraining, seconds) and export it")
    p.add_argument("--model", type=Path, default=REPO_ROOT / "models" / "default", help="model directory (with its checkpoint) or checkpoint to enroll into (default models/default)")
    p.add_argument("--recording", type=Path, required=True, help="labelled recording (gateway or import-csv)")
    p.add_argument("--out", type=Path, required=True, help="model directory to write, e.g. models/mine")
    p.add_argument("--name", default=None)
    p.add_argument("--model-version", default="0.1.0")
    p.add_argument("--parent-version", default="0.1.0")
    p.add_argument("--keep-parent-classes", action="store_true", help="keep the parent's classes next to the new ones (default: only the recording's classes)")
    p.add_argument("--modalities", choices=("any", "imu", "pose"), default="any")
    p.add_argument("--descriptions", type=Path, default=None)
    p.add_argument("--target-rejection", type=float, default=DEFAULT_TARGET_KNOWN_REJECTION, help="share of known windows the open-set threshold may reject (default 0.05)")
    p.add_argument("--parity", choices=("auto", "require", "skip"), default="auto")
    p.add_argument("--threads", type=int, default=None)
    p.set_defaults(func=lambda args: (enroll_from_recording(args, _command()), 0)[1])


def _command() -> str:
    import shlex
    import sys

    return "python3 -m encoders " + " ".join(shlex.quote(a) for a in sys.argv[1:])
