"""``finetune --recording``: learn a site's own activities from a labelled recording.

The class list is the recording's labels (new classes welcome; a label the parent model
already has keeps its anchor). Intervals may have IMU and pose, or only one of them. The
checkpoint records what the model was trained on, so ``export`` writes a manifest that
describes the site's data, not UTD-MHAD.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from encoders.models.joint import ClassInfo, JointModel

FINETUNE_STEPS = 200
FINETUNE_LR = 5e-4
SCRATCH_STEPS = 500
SCRATCH_LR = 2e-3


def load_descriptions(path: Path | None) -> dict[str, dict]:
    """{class id: {"name"?, "description"?}} from JSON {id or label: text or {name, description}}."""
    from encoders.splits import class_id_for

    if path is None:
        return {}
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object {{class: description}}")
    out: dict[str, dict] = {}
    for key, value in data.items():
        entry = {"description": value} if isinstance(value, str) else dict(value) if isinstance(value, dict) else None
        if entry is None:
            raise ValueError(f"{path}: {key!r} must map to a text or {{name, description}}")
        out[class_id_for(key)] = entry
    return out


def recording_classes(found, descriptions: dict[str, dict]) -> list[ClassInfo]:
    classes = []
    for cid in found.class_ids:
        label = found.names[cid]
        extra = descriptions.get(cid, {})
        name = str(extra.get("name") or label.replace("_", " ").strip().capitalize())
        # The schema wants a description; without one the anchor starts from the examples anyway.
        description = str(extra.get("description") or f"{name} (a site's own activity; no description given)")
        classes.append(ClassInfo(cid, name, description, label))
    return classes


def finetune_on_recording(args: argparse.Namespace, command: str) -> dict:
    from encoders.checkpoint import load_checkpoint, save_checkpoint
    from encoders.cli import resolve_checkpoint
    from encoders.finetune import with_classes
    from encoders.splits import clips_from_recording
    from encoders.train import TrainConfig, build_model, train

    found = clips_from_recording(args.recording, None, args.modalities)
    for reason in found.skipped:
        print(f"skipped: {reason}")
    print(f"{args.recording}: {len(found.clips)} labelled intervals ({', '.join(f'{n} {k}' for k, n in sorted(found.modalities.items()))}), classes {found.class_ids}")
    if not found.clips:
        raise ValueError(f"{args.recording}: no labelled interval has IMU or pose samples to train on")
    if len(found.class_ids) < 2:
        raise ValueError(f"{args.recording}: labels name only {found.class_ids}; a classifier needs at least two classes")
    classes = recording_classes(found, load_descriptions(args.descriptions))
    by_class = {c.id: [clip for clip in found.clips if clip.label == i] for i, c in enumerate(classes)}
    has_pairs = any(c.has_imu and c.has_pose for c in found.clips)
    if args.joint and not has_pairs:
        raise ValueError("--joint needs intervals with both IMU and pose; this recording has none")
    parent = None
    if args.from_scratch:
        steps, lr, strategy = args.steps or SCRATCH_STEPS, args.lr or SCRATCH_LR, "joint" if args.joint else "supervised"
        init_model = build_model(classes, found.clips, None, args.text_embeddings)
    else:
        steps, lr, strategy = args.steps or FINETUNE_STEPS, args.lr or FINETUNE_LR, "joint" if args.joint else "pretrain-finetune"
        checkpoint = resolve_checkpoint(args.init)
        base, base_extra = load_checkpoint(checkpoint)
        from encoders.splits import UTD_DATA_DESCRIPTION

        # A parent from train-default / train records no "training": it is UTD-MHAD's.
        parent = {"init": str(args.init), "classes": len(base.classes), "data": base_extra.get("training", {}).get("data") or UTD_DATA_DESCRIPTION}
        init_model = with_classes(base, classes, by_class)
    config = TrainConfig(strategy=strategy, steps=steps, pretrain_steps=0, batch_size=args.batch_size, lr=lr, seed=args.seed)
    result = train(classes, found.clips, config, init_model=init_model)
    model = result.model
    metrics: dict = {}
    if args.eval_recording is not None:
        from encoders.evaluate import evaluate_stream

        metrics["stream"] = evaluate_stream(model, args.eval_recording)
        for combo, m in metrics["stream"].items():
            print(f"  stream {combo:9s} macro F1 {m['macroF1']:.3f}  accuracy {m['accuracy']:.3f}  (n={m['count']})  on {args.eval_recording}")
    placements = sorted({c.placement for c in found.clips if c.has_imu}) or ["unknown"]
    training = {
        "data": (
            f"recording {Path(args.recording).resolve().name}: {len(found.clips)} labelled intervals of subjects {', '.join(found.subjects)} "
            f"({', '.join(f'{n} {k}' for k, n in sorted(found.modalities.items()))}); IMU placement {', '.join(placements)}"
            + (f"; started from {parent['init']} ({parent['classes']} classes; {parent['data']})" if parent else "; trained from scratch")
        ),
        "split": f"all labelled intervals used for training; evaluation: {args.eval_recording if args.eval_recording else 'none (pass --eval-recording)'}",
        "command": command,
        "seed": args.seed,
        "strategy": ("from scratch" if args.from_scratch else "fine-tune") + (" (supervised + IMU<->pose contrastive)" if args.joint else " (supervised)"),
        "steps": steps,
        "classes": {c.id: sum(1 for clip in found.clips if clip.label == i) for i, c in enumerate(classes)},
        "metrics": metrics,
    }
    extra = {
        "train": config.to_dict(),
        "command": command,
        "seconds": result.seconds,
        "samplesPerS": result.samples_per_s,
        "metrics": metrics,
        "training": training,
        "recording": str(Path(args.recording).resolve()),
        "placements": placements,
        "description": f"Fine-tuned on a site's own recording: {', '.join(c.id for c in classes)}",
    }
    save_checkpoint(model, args.out, extra)
    print(f"wrote {args.out} ({result.seconds:.0f} s, {result.samples_per_s:.0f} samples/s); export it with `python3 -m encoders export --checkpoint {args.out} --out models/<name>`")
    return extra


def parity_windows_from_recording(recording: Path, model: JointModel) -> tuple[np.ndarray, np.ndarray]:
    """Up to four real windows of the recording (one middle window per class, first classes)."""
    from encoders.pairs import crop, window_starts
    from encoders.splits import clips_from_recording

    found = clips_from_recording(recording, model.classes)
    imu, pose = [], []
    for label in range(len(model.classes)):
        clip = next((c for c in found.clips if c.label == label), None)
        if clip is None:
            continue
        starts = window_starts(clip)
        i, p = crop(clip, starts[len(starts) // 2])
        imu.append(i)
        pose.append(p)
        if len(imu) == 4:
            break
    if not imu:
        raise ValueError(f"{recording}: no labelled window to use as test vectors")
    while len(imu) < 3:  # the fusion cases use rows 0..2
        imu.append(imu[-1])
        pose.append(pose[-1])
    return np.stack(imu), np.stack(pose)
