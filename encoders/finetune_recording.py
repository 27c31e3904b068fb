"""``finetune --recording``: learn a site's own activities from a labelled recording.

The class list is the recording's labels (new classes welcome; a label the parent model
already has keeps its anchor). Intervals may have IMU and pose, or only one of them. The
checkpoint records what the model was trained on, so ``export`` writes a manifest that
describes the site's data, not UTD-MHAD.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from encoders.checkpoint import load_checkpoint, resolve_checkpoint, save_checkpoint
from encoders.data.paths import default_model_dir
from encoders.evaluate import evaluate_stream
from encoders.finetune import with_classes
from encoders.models.joint import ClassInfo, JointModel
from encoders.pairs import crop, window_starts
from encoders.splits import UTD_DATA_DESCRIPTION, Modalities, RecordingClips, class_id_for, clips_from_recording
from encoders.train import BATCH_SIZE, FINETUNE_LR, FINETUNE_STEPS, LR, RECIPE_STEPS, TrainConfig, build_model, train


@dataclass(frozen=True)
class RecordingFinetune:
    """``finetune --recording``: what to learn from, where to start, how long."""

    recording: Path
    #: checkpoint to write
    out: Path
    #: checkpoint or exported model directory to start from (ignored with ``from_scratch``)
    init: Path = default_model_dir()
    modalities: Modalities = "any"
    #: JSON {class id or label: description or {name, description}}
    descriptions: Path | None = None
    #: keep the IMU↔pose contrastive term while training
    joint: bool = False
    #: a fresh model trained on the recording alone, for comparison
    from_scratch: bool = False
    #: labelled recording (other people or sessions) to report stream macro F1 on
    eval_recording: Path | None = None
    #: None: FINETUNE_STEPS from a model, RECIPE_STEPS from scratch
    steps: int | None = None
    #: None: FINETUNE_LR from a model, LR from scratch
    lr: float | None = None
    batch_size: int = BATCH_SIZE
    seed: int = 0
    #: precomputed class text embeddings (from scratch only); None: hashed n-grams
    text_embeddings: str | None = None


def load_descriptions(path: Path | None) -> dict[str, dict]:
    """{class id: {"name"?, "description"?}} from JSON {id or label: text or {name, description}}."""
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


def recording_classes(found: RecordingClips, descriptions: dict[str, dict]) -> list[ClassInfo]:
    classes = []
    for cid in found.class_ids:
        label = found.names[cid]
        extra = descriptions.get(cid, {})
        name = str(extra.get("name") or label.replace("_", " ").strip().capitalize())
        # The schema wants a description; without one the anchor starts from the examples anyway.
        description = str(extra.get("description") or f"{name} (a site's own activity; no description given)")
        classes.append(ClassInfo(cid, name, description, label))
    return classes


def finetune_on_recording(run: RecordingFinetune, command: str) -> dict:
    found = clips_from_recording(run.recording, None, run.modalities)
    for reason in found.skipped:
        print(f"skipped: {reason}")
    print(f"{run.recording}: {len(found.clips)} labelled intervals ({', '.join(f'{n} {k}' for k, n in sorted(found.modalities.items()))}), classes {found.class_ids}")
    if not found.clips:
        raise ValueError(f"{run.recording}: no labelled interval has IMU or pose samples to train on")
    if len(found.class_ids) < 2:
        raise ValueError(f"{run.recording}: labels name only {found.class_ids}; a classifier needs at least two classes")
    classes = recording_classes(found, load_descriptions(run.descriptions))
    by_class = {c.id: [clip for clip in found.clips if clip.label == i] for i, c in enumerate(classes)}
    has_pairs = any(c.has_imu and c.has_pose for c in found.clips)
    if run.joint and not has_pairs:
        raise ValueError("--joint needs intervals with both IMU and pose; this recording has none")
    parent = None
    if run.from_scratch:
        steps, lr, strategy = run.steps or RECIPE_STEPS, run.lr or LR, "joint" if run.joint else "supervised"
        init_model = build_model(classes, found.clips, None, run.text_embeddings)
    else:
        steps, lr, strategy = run.steps or FINETUNE_STEPS, run.lr or FINETUNE_LR, "joint" if run.joint else "pretrain-finetune"
        checkpoint = resolve_checkpoint(run.init)
        base, base_extra = load_checkpoint(checkpoint)
        # A parent from train-default / train records no "training": it is UTD-MHAD's.
        parent = {"init": str(run.init), "classes": len(base.classes), "data": base_extra.get("training", {}).get("data") or UTD_DATA_DESCRIPTION}
        init_model = with_classes(base, classes, by_class)
    config = TrainConfig(strategy=strategy, steps=steps, pretrain_steps=0, batch_size=run.batch_size, lr=lr, seed=run.seed)
    result = train(classes, found.clips, config, init_model=init_model)
    model = result.model
    metrics: dict = {}
    if run.eval_recording is not None:
        metrics["stream"] = evaluate_stream(model, run.eval_recording)
        for combo, m in metrics["stream"].items():
            print(f"  stream {combo:9s} macro F1 {m['macroF1']:.3f}  accuracy {m['accuracy']:.3f}  (n={m['count']})  on {run.eval_recording}")
    placements = sorted({c.placement for c in found.clips if c.has_imu}) or ["unknown"]
    training = {
        "data": (
            f"recording {Path(run.recording).resolve().name}: {len(found.clips)} labelled intervals of subjects {', '.join(found.subjects)} "
            f"({', '.join(f'{n} {k}' for k, n in sorted(found.modalities.items()))}); IMU placement {', '.join(placements)}"
            + (f"; started from {parent['init']} ({parent['classes']} classes; {parent['data']})" if parent else "; trained from scratch")
        ),
        "split": f"all labelled intervals used for training; evaluation: {run.eval_recording if run.eval_recording else 'none (pass --eval-recording)'}",
        "command": command,
        "seed": run.seed,
        "strategy": ("from scratch" if run.from_scratch else "fine-tune") + (" (supervised + IMU<->pose contrastive)" if run.joint else " (supervised)"),
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
        "recording": str(Path(run.recording).resolve()),
        "placements": placements,
        "description": f"Fine-tuned on a site's own recording: {', '.join(c.id for c in classes)}",
    }
    save_checkpoint(model, run.out, extra)
    print(f"wrote {run.out} ({result.seconds:.0f} s, {result.samples_per_s:.0f} samples/s); export it with `python3 -m encoders export --checkpoint {run.out} --out models/<name>`")
    return extra


def parity_windows_from_recording(recording: Path, model: JointModel) -> tuple[np.ndarray, np.ndarray]:
    """Up to four real windows of the recording (one middle window per class, first classes)."""
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
