"""Model sub-commands: pretrain, train, finetune, evaluate, export, train-default, enroll.

Each handler turns the parsed options into the library's typed configs and calls it; the
library never sees an ``argparse.Namespace``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import get_args

from encoders.checkpoint import load_checkpoint, resolve_checkpoint, save_checkpoint
from encoders.cli.common import add_common, add_threads, add_training, command_line
from encoders.data.paths import default_model_dir, demo_recording
from encoders.enroll_recording import RecordingEnrollment, enroll_from_recording
from encoders.evaluate import evaluate_clips, evaluate_stream, format_metrics, save_confusion_png
from encoders.experiments import DefaultModelRun, parity_windows, train_default
from encoders.export import DEFAULT_MODEL_VERSION, DEFAULT_OPSET, Parity, export_model
from encoders.finetune_recording import RecordingFinetune, finetune_on_recording, parity_windows_from_recording
from encoders.models.joint import ModelConfig
from encoders.openset import DEFAULT_TARGET_KNOWN_REJECTION
from encoders.recipe_extras import IDEAS
from encoders.splits import UTD_DATA_DESCRIPTION, UTD_SPLIT_DESCRIPTION, Modalities, UtdSplit, load_utd_split, utd_classes
from encoders.train import STRATEGIES, TrainConfig, TrainResult, train

PARITY_CHOICES = get_args(Parity)
MODALITY_CHOICES = get_args(Modalities)


def register(sub: argparse._SubParsersAction) -> None:  # argparse has no public type for it
    p = sub.add_parser("pretrain", help="contrastive IMU<->pose pretraining on unlabelled UTD-MHAD training windows")
    add_common(p)
    add_training(p)
    p.add_argument("--out", type=Path, required=True, help="checkpoint to write (.pt)")
    p.set_defaults(func=cmd_pretrain)

    p = sub.add_parser("train", help="train from scratch with one strategy on UTD-MHAD training subjects")
    add_common(p)
    add_training(p)
    p.add_argument("--strategy", choices=STRATEGIES, default="joint")
    p.add_argument("--out", type=Path, required=True, help="checkpoint to write (.pt)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("finetune", help="fine-tune a checkpoint (e.g. from pretrain) with the supervised loss")
    add_common(p)
    add_training(p)
    p.add_argument("--init", type=Path, default=default_model_dir(), help="checkpoint (.pt) or exported model directory to start from (default models/default, which ships its checkpoint)")
    p.add_argument("--joint", action="store_true", help="keep the IMU<->pose contrastive term while fine-tuning")
    p.add_argument("--recording", type=Path, default=None, help="fine-tune on the labelled intervals of this recording (from the gateway or import-csv) instead of UTD-MHAD's training subjects; its labels are the class list, new classes welcome")
    p.add_argument("--modalities", choices=MODALITY_CHOICES, default="any", help="with --recording: use every stream an interval has (default), or only its IMU / only its pose")
    p.add_argument("--descriptions", type=Path, default=None, help="with --recording: JSON {class id or label: description or {name, description}} (optional)")
    p.add_argument("--from-scratch", action="store_true", help="with --recording: train a fresh model on the recording alone (no --init), for comparison")
    p.add_argument("--eval-recording", type=Path, default=None, help="with --recording: labelled recording (other people or sessions) to report stream macro F1 on")
    p.add_argument("--out", type=Path, required=True)
    # None: the recording's defaults (finetune_recording.RecordingFinetune) or, on UTD-MHAD,
    # TrainConfig's; explicit values always win.
    p.set_defaults(func=cmd_finetune, steps=None, lr=None)

    p = sub.add_parser("evaluate", help="macro F1 / accuracy per modality combination (clip, window, stream level)")
    add_common(p)
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--recording", type=Path, default=demo_recording(), help="recording for the stream evaluation (default recordings/demo)")
    p.add_argument("--confusion", type=Path, default=None, help="write the fused clip-level confusion matrix PNG here")
    p.add_argument("--json", action="store_true", help="print metrics as JSON")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("export", help="export a checkpoint to models/<name> (ONNX per encoder, prototypes, test vectors, manifest)")
    add_common(p)
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True, help="model directory, e.g. models/mine")
    p.add_argument("--name", default=None, help="model name (default: the directory name)")
    p.add_argument("--model-version", default=DEFAULT_MODEL_VERSION)
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET)
    p.add_argument("--parity", choices=PARITY_CHOICES, default="auto", help="torch vs onnxruntime-node check (default auto: when node is present)")
    p.set_defaults(func=cmd_export)

    defaults = DefaultModelRun(datasets=None)
    p = sub.add_parser("train-default", help="train, evaluate and export the default model to models/default (about 2 minutes)")
    add_common(p)
    p.add_argument("--strategy", choices=STRATEGIES, default=None, help="default: the best strategy at 100%% labels in encoders/results-raw.json (RESULTS.md)")
    p.add_argument("--steps", type=int, default=defaults.steps, help=f"supervised steps (default {defaults.steps})")
    p.add_argument("--out", type=Path, default=defaults.out)
    p.add_argument("--recording", type=Path, default=defaults.recording)
    p.add_argument("--checkpoint", type=Path, default=defaults.checkpoint, help="also keep the PyTorch checkpoint here (the model directory always gets checkpoint.pt)")
    p.add_argument("--no-calibrate", dest="calibrate", action="store_false", help="skip the open-set calibration (a second model without training subject 7; about as long as the first)")
    p.add_argument("--idea", choices=list(IDEAS), default=defaults.idea, help="issue-14 addition to the recipe (RESULTS.md, idea rows; default control: none)")
    p.set_defaults(func=cmd_train_default)

    p = sub.add_parser("enroll", help="add a recording's classes to a model as prototypes (no retraining, seconds) and export it")
    p.add_argument("--model", type=Path, default=default_model_dir(), help="model directory (with its checkpoint) or checkpoint to enroll into (default models/default)")
    p.add_argument("--recording", type=Path, required=True, help="labelled recording (gateway or import-csv)")
    p.add_argument("--out", type=Path, required=True, help="model directory to write, e.g. models/mine")
    p.add_argument("--name", default=None)
    p.add_argument("--model-version", default=DEFAULT_MODEL_VERSION)
    p.add_argument("--parent-version", default=DEFAULT_MODEL_VERSION)
    p.add_argument("--keep-parent-classes", action="store_true", help="keep the parent's classes next to the new ones (default: only the recording's classes)")
    p.add_argument("--modalities", choices=MODALITY_CHOICES, default="any")
    p.add_argument("--descriptions", type=Path, default=None)
    p.add_argument("--target-rejection", type=float, default=DEFAULT_TARGET_KNOWN_REJECTION, help=f"share of known windows the open-set threshold may reject (default {DEFAULT_TARGET_KNOWN_REJECTION})")
    p.add_argument("--parity", choices=PARITY_CHOICES, default="auto")
    add_threads(p)
    p.set_defaults(func=cmd_enroll)


def _model_config(args: argparse.Namespace) -> ModelConfig:
    return ModelConfig(embedding_dim=args.embedding_dim)


def _train_config(args: argparse.Namespace, strategy: str) -> TrainConfig:
    return TrainConfig(strategy=strategy, label_fraction=args.label_fraction, steps=args.steps, pretrain_steps=args.pretrain_steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed)


def _save(result: TrainResult, path: Path, split: UtdSplit, command: str) -> None:
    evaluation = evaluate_clips(result.model, split.test)
    print("\n".join(format_metrics(evaluation.metrics)))
    save_checkpoint(result.model, path, {"train": result.config.to_dict(), "command": command, "seconds": result.seconds, "samplesPerS": result.samples_per_s, "metrics": evaluation.metrics})
    print(f"wrote {path} ({result.seconds:.0f} s, {result.samples_per_s:.0f} samples/s)")


def cmd_pretrain(args: argparse.Namespace) -> int:
    split = load_utd_split(args.datasets)
    config = _train_config(args, "pretrain-finetune")
    config.steps = 0
    result = train(split.classes, split.train, config, _model_config(args), args.text_embeddings)
    _save(result, args.out, split, command_line())
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    split = load_utd_split(args.datasets)
    result = train(split.classes, split.train, _train_config(args, args.strategy), _model_config(args), args.text_embeddings)
    _save(result, args.out, split, command_line())
    return 0


def cmd_finetune(args: argparse.Namespace) -> int:
    if args.recording is not None:
        run = RecordingFinetune(
            recording=args.recording, out=args.out, init=args.init, modalities=args.modalities, descriptions=args.descriptions, joint=args.joint,
            from_scratch=args.from_scratch, eval_recording=args.eval_recording, steps=args.steps, lr=args.lr, batch_size=args.batch_size, seed=args.seed,
            text_embeddings=args.text_embeddings,
        )
        finetune_on_recording(run, command_line())
        return 0
    if args.from_scratch:
        raise ValueError("--from-scratch needs --recording (for UTD-MHAD use `train`)")

    args.steps = args.steps or TrainConfig.steps
    args.lr = args.lr or TrainConfig.lr
    split = load_utd_split(args.datasets)
    model, _ = load_checkpoint(resolve_checkpoint(args.init))
    if [c.id for c in model.classes] != [c.id for c in split.classes]:
        raise ValueError(f"{args.init}: its classes differ from UTD-MHAD's; pass --recording with data for them")
    config = _train_config(args, "joint" if args.joint else "pretrain-finetune")
    config.pretrain_steps = 0
    result = train(model.classes, split.train, config, init_model=model)
    _save(result, args.out, split, command_line())
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    model, _ = load_checkpoint(resolve_checkpoint(args.checkpoint))
    recording: Path | None = args.recording if args.recording is not None and args.recording.is_dir() else None
    if [c.id for c in model.classes] != [c.id for c in utd_classes()]:
        # A site's own classes: UTD-MHAD cannot score it, the given recording can.
        if recording is None:
            raise ValueError(f"{args.checkpoint}: its classes are not UTD-MHAD's; pass --recording with labelled data for them")
        metrics = {"stream": evaluate_stream(model, recording)}
    else:
        split = load_utd_split(args.datasets)
        evaluation = evaluate_clips(model, split.test)
        metrics = dict(evaluation.metrics)
        if recording is not None:
            metrics["stream"] = evaluate_stream(model, recording)
        if args.confusion:
            save_confusion_png(evaluation.confusion[("clip", "imu+pose")], [c.id for c in model.classes], args.confusion, f"{args.checkpoint.name}: fused, clip level")
    print(json.dumps(metrics, indent=2) if args.json else "\n".join(format_metrics(metrics)))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    model, extra = load_checkpoint(resolve_checkpoint(args.checkpoint))
    name = args.name or Path(args.out).name
    if "training" in extra:
        # Trained on a site's recording: the manifest says so, and the test vectors come from
        # that recording (a user's clone has no UTD-MHAD).
        imu, pose = parity_windows_from_recording(Path(extra["recording"]), model)
        training = {**extra["training"], "exportCommand": command_line()}
        export_model(model, args.out, name=name, version=args.model_version, imu_windows=imu, pose_windows=pose, training=training, opset=args.opset, parity=args.parity,
                     description=extra.get("description", ""), placements=extra.get("placements", ("wrist", "thigh")), checkpoint_extra=extra)
        print(f"exported {args.out}")
        return 0
    split = load_utd_split(args.datasets)
    imu, pose = parity_windows(split.test)
    train_cfg = extra.get("train", {})
    training = {
        "data": UTD_DATA_DESCRIPTION,
        "split": UTD_SPLIT_DESCRIPTION,
        "command": extra.get("command", "unknown"),
        "seed": int(train_cfg.get("seed", args.seed)),
        "strategy": train_cfg.get("strategy", "unknown"),
        "metrics": extra.get("metrics", {}),
        "exportCommand": command_line(),
    }
    export_model(model, args.out, name=name, version=args.model_version, imu_windows=imu, pose_windows=pose, training=training, opset=args.opset, parity=args.parity)
    print(f"exported {args.out}")
    return 0


def cmd_train_default(args: argparse.Namespace) -> int:
    run = DefaultModelRun(datasets=args.datasets, strategy=args.strategy, steps=args.steps, seed=args.seed, out=args.out, recording=args.recording, checkpoint=args.checkpoint, calibrate=args.calibrate, idea=args.idea)
    train_default(run, command_line())
    return 0


def cmd_enroll(args: argparse.Namespace) -> int:
    run = RecordingEnrollment(
        recording=args.recording, out=args.out, model=args.model, name=args.name, model_version=args.model_version, parent_version=args.parent_version,
        keep_parent_classes=args.keep_parent_classes, modalities=args.modalities, descriptions=args.descriptions, target_rejection=args.target_rejection, parity=args.parity,
    )
    enroll_from_recording(run, command_line())
    return 0
