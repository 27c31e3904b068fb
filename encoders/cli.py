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
    p.add_argument("--datasets", type=Path, default=None, help="folder holding utd-mhad/, sp-sw-har/, mmfit-labels/ (default $MUJO_DATASETS; see the README, Data sets)")
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
    p.add_argument("--init", type=Path, default=REPO_ROOT / "models" / "default", help="checkpoint (.pt) or exported model directory to start from (default models/default, which ships its checkpoint)")
    p.add_argument("--joint", action="store_true", help="keep the IMU<->pose contrastive term while fine-tuning")
    p.add_argument("--recording", type=Path, default=None, help="fine-tune on the labelled intervals of this recording (from the gateway or import-csv) instead of UTD-MHAD's training subjects; its labels are the class list, new classes welcome")
    p.add_argument("--modalities", choices=("any", "imu", "pose"), default="any", help="with --recording: use every stream an interval has (default), or only its IMU / only its pose")
    p.add_argument("--descriptions", type=Path, default=None, help="with --recording: JSON {class id or label: description or {name, description}} (optional)")
    p.add_argument("--from-scratch", action="store_true", help="with --recording: train a fresh model on the recording alone (no --init), for comparison")
    p.add_argument("--eval-recording", type=Path, default=None, help="with --recording: labelled recording (other people or sessions) to report stream macro F1 on")
    p.add_argument("--out", type=Path, required=True)
    # None: 200 steps at lr 5e-4 when starting from a model (the few-shot protocol's settings,
    # RESULTS.md), 500 at 2e-3 from scratch; explicit values always win.
    p.set_defaults(func=cmd_finetune, steps=None, lr=None)

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
    p.add_argument("--checkpoint", type=Path, default=REPO_ROOT / "runs" / "default.pt", help="also keep the PyTorch checkpoint here (the model directory always gets checkpoint.pt)")
    p.add_argument("--no-calibrate", dest="calibrate", action="store_false", help="skip the open-set calibration (a second model without training subject 7; about as long as the first)")
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

    p = sub.add_parser("few-shot-eval", help="issue 11 protocol: 7 UTD-MHAD classes held out as new, enrolled / fine-tuned / from scratch / baseline with k examples; open set; writes RESULTS.md section + JSON")
    _common(p)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--shots", type=int, nargs="+", default=[1, 3, 5], help="examples per new class (default 1 3 5)")
    p.add_argument("--base-steps", type=int, default=None, help="supervised steps of the base / calibration models (default 500, as train-default)")
    p.add_argument("--pretrain-steps", type=int, default=None, help="contrastive steps before them (default 400)")
    p.add_argument("--finetune-steps", type=int, default=None, help="fine-tuning steps (default 200)")
    p.add_argument("--scratch-steps", type=int, default=None, help="from-scratch steps (default 500)")
    p.add_argument("--raw", type=Path, default=Path(__file__).resolve().parent / "fewshot-raw.json")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "RESULTS.md", help="RESULTS.md whose few-shot section is replaced ('-' for none)")
    p.add_argument("--cache", type=Path, default=None, help="keep/reuse the base and calibration checkpoints here (e.g. runs/fewshot)")
    p.set_defaults(func=cmd_fewshot)

    from encoders.enroll_recording import register as register_enroll

    register_enroll(sub)

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


def resolve_checkpoint(path: Path) -> Path:
    """A checkpoint file, or an exported model directory whose manifest ships one."""
    path = Path(path)
    if path.is_dir():
        manifest = path / "manifest.json"
        entry = json.loads(manifest.read_text(encoding="utf-8")).get("checkpoint") if manifest.is_file() else None
        if not entry:
            raise FileNotFoundError(f"{path}: no manifest.json with a \"checkpoint\" entry (export it with a checkpoint, or pass a .pt file)")
        return path / entry["file"]
    return path


def cmd_finetune(args: argparse.Namespace) -> int:
    if args.recording is not None:
        from encoders.finetune_recording import finetune_on_recording

        finetune_on_recording(args, _command_line())
        return 0
    if args.from_scratch:
        raise ValueError("--from-scratch needs --recording (for UTD-MHAD use `train`)")
    from encoders.checkpoint import load_checkpoint
    from encoders.splits import load_utd_split
    from encoders.train import train

    args.steps = args.steps or 600
    args.lr = args.lr or 2e-3
    split = load_utd_split(args.datasets)
    model, _ = load_checkpoint(resolve_checkpoint(args.init))
    if [c.id for c in model.classes] != [c.id for c in split.classes]:
        raise ValueError(f"{args.init}: its classes differ from UTD-MHAD's; pass --recording with data for them")
    config = _train_config(args, "joint" if args.joint else "pretrain-finetune")
    config.pretrain_steps = 0
    result = train(model.classes, split.train, config, init_model=model)
    _save(result, args.out, split, _command_line())
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from encoders.checkpoint import load_checkpoint
    from encoders.evaluate import evaluate_clips, evaluate_stream, save_confusion_png
    from encoders.splits import load_utd_split

    from encoders.splits import utd_classes

    model, _ = load_checkpoint(resolve_checkpoint(args.checkpoint))
    if [c.id for c in model.classes] != [c.id for c in utd_classes()]:
        # A site's own classes: UTD-MHAD cannot score it, the given recording can.
        if not (args.recording and Path(args.recording).is_dir()):
            raise ValueError(f"{args.checkpoint}: its classes are not UTD-MHAD's; pass --recording with labelled data for them")
        metrics = {"stream": evaluate_stream(model, args.recording)}
        print(json.dumps(metrics, indent=2)) if args.json else _print_metrics(metrics)
        return 0
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

    model, extra = load_checkpoint(resolve_checkpoint(args.checkpoint))
    if "training" in extra:
        # Trained on a site's recording: the manifest says so, and the test vectors come from
        # that recording (a user's clone has no UTD-MHAD).
        from encoders.finetune_recording import parity_windows_from_recording

        imu, pose = parity_windows_from_recording(Path(extra["recording"]), model)
        training = {**extra["training"], "exportCommand": _command_line()}
        name = args.name or Path(args.out).name
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


def cmd_fewshot(args: argparse.Namespace) -> int:
    from encoders import fewshot

    steps = {
        "base": args.base_steps or fewshot.BASE_STEPS,
        "pretrain": fewshot.BASE_PRETRAIN_STEPS if args.pretrain_steps is None else args.pretrain_steps,
        "finetune": args.finetune_steps or fewshot.FINETUNE_STEPS,
        "scratch": args.scratch_steps or fewshot.SCRATCH_STEPS,
    }
    out = None if str(args.out) == "-" else args.out
    fewshot.CACHE_DIR = args.cache
    fewshot.run_fewshot(args.datasets, args.seeds, args.shots, steps, args.raw, out, _command_line())
    print(f"wrote {args.raw}" + (f" and the few-shot section of {out}" if out else ""))
    return 0


def cmd_results(args: argparse.Namespace) -> int:
    from encoders.experiments import run_results

    run_results(args, _command_line())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command not in ("prepare", "make-recording", "import-csv", "make-rep-sets", "make-rep-fixture"):
        _setup(args)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
