"""Command line: ``python3 -m encoders <command>``.

Data: prepare, make-recording (encoders/data). Models: pretrain, train, finetune, evaluate,
export, train-default (the one command a newcomer runs), results (regenerates RESULTS.md),
spswhar (sp-sw-har IMU-only evaluation and watch<->phone pretraining: its own RESULTS.md block).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from encoders import __version__
from encoders.train import STRATEGIES

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RECORDING = REPO_ROOT / "recordings" / "demo"


def _fraction(text: str) -> float:
    value = float(text.rstrip("%")) / (100.0 if text.endswith("%") else 1.0)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"label fraction must be in (0, 1] or (0 %, 100 %], got {text!r}")
    return value


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--datasets", type=Path, default=None, help="datasets root (default $MUJO_DATASETS or <repo>/../shared/datasets)")
    p.add_argument("--seed", type=int, default=0, help="seed of every generator (default 0)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default 2, or $MUJO_TORCH_THREADS)")


def _training_args(p: argparse.ArgumentParser, steps: int = 600) -> None:
    p.add_argument("--steps", type=int, default=steps, help=f"supervised/fine-tune steps (default {steps})")
    p.add_argument("--pretrain-steps", type=int, default=400, help="contrastive steps before fine-tuning (default 400)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--label-fraction", type=_fraction, default=1.0, help="stratified share of labelled training windows, e.g. 0.1 or 10%% (default 1)")
    p.add_argument("--embedding-dim", type=int, default=64)
    p.add_argument("--text-embeddings", default=None, help="precomputed class text embeddings (.npy [classes, d] or .json {class_id: [..]}); default: hashed n-grams of the descriptions")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python3 -m encoders", description="MuJo-style joint-space trainer for mujo-gateway: train, evaluate and export IMU/pose encoders.")
    parser.add_argument("--version", action="version", version=f"encoders {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    try:
        from encoders.data.cli import register as register_data
    except ImportError:  # the data package is optional for model-only use
        register_data = None
    if register_data is not None:
        register_data(sub)

    p = sub.add_parser("pretrain", help="contrastive IMU<->pose pretraining on unlabelled UTD-MHAD training windows")
    _common(p)
    _training_args(p)
    p.add_argument("--out", type=Path, required=True, help="checkpoint to write (.pt)")
    p.set_defaults(func=cmd_pretrain)

    p = sub.add_parser("train", help="train from scratch with one strategy on UTD-MHAD training subjects")
    _common(p)
    _training_args(p)
    p.add_argument("--strategy", choices=STRATEGIES, default="joint")
    p.add_argument("--out", type=Path, required=True, help="checkpoint to write (.pt)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("finetune", help="fine-tune a checkpoint (e.g. from pretrain) with the supervised loss")
    _common(p)
    _training_args(p)
    p.add_argument("--init", type=Path, required=True, help="checkpoint to start from")
    p.add_argument("--joint", action="store_true", help="keep the IMU<->pose contrastive term while fine-tuning")
    p.add_argument("--recording", type=Path, default=None, help="fine-tune on the labelled intervals of this gateway recording instead of UTD-MHAD's training subjects")
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=cmd_finetune)

    p = sub.add_parser("evaluate", help="macro F1 / accuracy per modality combination (clip, window, stream level)")
    _common(p)
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--recording", type=Path, default=DEFAULT_RECORDING, help="recording for the stream evaluation (default recordings/demo)")
    p.add_argument("--confusion", type=Path, default=None, help="write the fused clip-level confusion matrix PNG here")
    p.add_argument("--json", action="store_true", help="print metrics as JSON")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("export", help="export a checkpoint to models/<name> (ONNX per encoder, prototypes, test vectors, manifest)")
    _common(p)
    p.add_argument("--checkpoint", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True, help="model directory, e.g. models/mine")
    p.add_argument("--name", default=None, help="model name (default: the directory name)")
    p.add_argument("--model-version", default="0.1.0")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--parity", choices=("auto", "require", "skip"), default="auto", help="torch vs onnxruntime-node check (default auto: when node is present)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("train-default", help="train, evaluate and export the default model to models/default (about 2 minutes)")
    _common(p)
    p.add_argument("--strategy", choices=STRATEGIES, default=None, help="default: the best strategy at 100%% labels in encoders/results-raw.json (RESULTS.md)")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--out", type=Path, default=REPO_ROOT / "models" / "default")
    p.add_argument("--recording", type=Path, default=DEFAULT_RECORDING)
    p.add_argument("--checkpoint", type=Path, default=REPO_ROOT / "runs" / "default.pt", help="also keep the PyTorch checkpoint here")
    p.set_defaults(func=cmd_train_default)

    p = sub.add_parser("results", help="run the UTD-MHAD experiment grid and regenerate encoders/RESULTS.md")
    _common(p)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--fractions", type=_fraction, nargs="+", default=[0.02, 0.1, 1.0])
    p.add_argument("--joint-fractions", type=_fraction, nargs="+", default=[0.02, 0.1, 1.0], help="label fractions for the joint strategy (default 2 10 100 %%)")
    p.add_argument("--steps", type=int, default=None, help="supervised steps per run (default from experiments.py)")
    p.add_argument("--pretrain-steps", type=int, default=None)
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "RESULTS.md")
    p.add_argument("--raw", type=Path, default=Path(__file__).resolve().parent / "results-raw.json", help="per-run raw results (JSON)")
    p.set_defaults(func=cmd_results)

    # sp-sw-har: second IMU-only evaluation + watch<->phone pretraining (encoders/spswhar_eval.py)
    from encoders.spswhar_eval import register as register_spswhar

    register_spswhar(sub)
    return parser


def _setup(args: argparse.Namespace) -> None:
    from encoders.runtime import blas_library, configure_threads

    threads = configure_threads(args.threads)
    print(f"encoders {__version__}: torch threads {threads}; BLAS {blas_library()}", flush=True)


def _command_line() -> str:
    return "python3 -m encoders " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def _model_config(args: argparse.Namespace):
    from encoders.models.joint import ModelConfig

    return ModelConfig(embedding_dim=args.embedding_dim)


def _train_config(args: argparse.Namespace, strategy: str):
    from encoders.train import TrainConfig

    return TrainConfig(strategy=strategy, label_fraction=args.label_fraction, steps=args.steps, pretrain_steps=args.pretrain_steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed)


def _save(result, path: Path, split, command: str) -> None:
    from encoders.checkpoint import save_checkpoint
    from encoders.evaluate import evaluate_clips

    evaluation = evaluate_clips(result.model, split.test)
    _print_metrics(evaluation.metrics)
    save_checkpoint(result.model, path, {"train": result.config.to_dict(), "command": command, "seconds": result.seconds, "samplesPerS": result.samples_per_s, "metrics": evaluation.metrics})
    print(f"wrote {path} ({result.seconds:.0f} s, {result.samples_per_s:.0f} samples/s)")


def _print_metrics(metrics: dict) -> None:
    for level, combos in metrics.items():
        for combo, m in combos.items():
            print(f"  {level:6s} {combo:9s} macro F1 {m['macroF1']:.3f}  accuracy {m['accuracy']:.3f}  (n={m['count']})")


def cmd_pretrain(args: argparse.Namespace) -> int:
    from encoders.splits import load_utd_split
    from encoders.train import train

    split = load_utd_split(args.datasets)
    config = _train_config(args, "pretrain-finetune")
    config.steps = 0
    result = train(split.classes, split.train, config, _model_config(args), args.text_embeddings)
    _save(result, args.out, split, _command_line())
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from encoders.splits import load_utd_split
    from encoders.train import train

    split = load_utd_split(args.datasets)
    result = train(split.classes, split.train, _train_config(args, args.strategy), _model_config(args), args.text_embeddings)
    _save(result, args.out, split, _command_line())
    return 0


def cmd_finetune(args: argparse.Namespace) -> int:
    from encoders.checkpoint import load_checkpoint
    from encoders.splits import load_utd_split
    from encoders.train import train

    from encoders.splits import paired_from_recording

    split = load_utd_split(args.datasets)
    model, _ = load_checkpoint(args.init)
    train_clips = split.train
    if args.recording is not None:
        train_clips, skipped = paired_from_recording(args.recording, model.classes)
        print(f"{args.recording}: {len(train_clips)} labelled intervals with IMU and pose ({skipped} skipped: a modality missing or too short)")
        if not train_clips:
            raise ValueError(f"{args.recording}: no labelled interval has both IMU and pose to fine-tune on")
    elif [c.id for c in model.classes] != [c.id for c in split.classes]:
        raise ValueError(f"{args.init}: its classes differ from UTD-MHAD's; pass --recording with data for them")
    config = _train_config(args, "joint" if args.joint else "pretrain-finetune")
    config.pretrain_steps = 0
    result = train(model.classes, train_clips, config, init_model=model)
    _save(result, args.out, split, _command_line())
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from encoders.checkpoint import load_checkpoint
    from encoders.evaluate import evaluate_clips, evaluate_stream, save_confusion_png
    from encoders.splits import load_utd_split

    model, _ = load_checkpoint(args.checkpoint)
    split = load_utd_split(args.datasets)
    evaluation = evaluate_clips(model, split.test)
    metrics = dict(evaluation.metrics)
    if args.recording and Path(args.recording).is_dir():
        metrics["stream"] = evaluate_stream(model, args.recording)
    if args.confusion:
        save_confusion_png(evaluation.confusion[("clip", "imu+pose")], [c.id for c in model.classes], args.confusion, f"{args.checkpoint.name}: fused, clip level")
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        _print_metrics(metrics)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from encoders.checkpoint import load_checkpoint
    from encoders.export import export_model
    from encoders.experiments import parity_windows
    from encoders.splits import UTD_DATA_DESCRIPTION, UTD_SPLIT_DESCRIPTION, load_utd_split

    model, extra = load_checkpoint(args.checkpoint)
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
        "exportCommand": _command_line(),
    }
    name = args.name or Path(args.out).name
    export_model(model, args.out, name=name, version=args.model_version, imu_windows=imu, pose_windows=pose, training=training, opset=args.opset, parity=args.parity)
    print(f"exported {args.out}")
    return 0


def cmd_train_default(args: argparse.Namespace) -> int:
    from encoders.experiments import train_default

    train_default(args, _command_line())
    return 0


def cmd_results(args: argparse.Namespace) -> int:
    from encoders.experiments import run_results

    run_results(args, _command_line())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command not in ("prepare", "make-recording", "make-rep-sets", "make-rep-fixture"):
        _setup(args)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
