"""Argument types and option groups shared by the sub-commands, and the run's own command line."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from encoders.models.joint import ModelConfig
from encoders.train import BATCH_SIZE, PRETRAIN_STEPS, TrainConfig


def fraction(text: str) -> float:
    """A label fraction: 0.1 or 10%, in (0, 1]."""
    value = float(text.rstrip("%")) / (100.0 if text.endswith("%") else 1.0)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"label fraction must be in (0, 1] or (0 %, 100 %], got {text!r}")
    return value


def add_common(p: argparse.ArgumentParser) -> None:
    """--datasets, --seed, --threads: every command that loads data and trains or evaluates."""
    p.add_argument("--datasets", type=Path, default=None, help="folder holding utd-mhad/, sp-sw-har/, mmfit-labels/ (default $MUJO_DATASETS; see the README, Data sets)")
    p.add_argument("--seed", type=int, default=0, help="seed of every generator (default 0)")
    add_threads(p)


def add_threads(p: argparse.ArgumentParser) -> None:
    """--threads, and the mark that the command runs torch (threads are set before it starts)."""
    p.add_argument("--threads", type=int, default=None, help="torch threads (default 2, or $MUJO_TORCH_THREADS)")
    p.set_defaults(uses_torch=True)


def add_training(p: argparse.ArgumentParser) -> None:
    """The optimisation options of pretrain / train / finetune (defaults: :class:`TrainConfig`)."""
    p.add_argument("--steps", type=int, default=TrainConfig.steps, help=f"supervised/fine-tune steps (default {TrainConfig.steps})")
    p.add_argument("--pretrain-steps", type=int, default=PRETRAIN_STEPS, help=f"contrastive steps before fine-tuning (default {PRETRAIN_STEPS})")
    p.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    p.add_argument("--lr", type=float, default=TrainConfig.lr)
    p.add_argument("--label-fraction", type=fraction, default=1.0, help="stratified share of labelled training windows, e.g. 0.1 or 10%% (default 1)")
    p.add_argument("--embedding-dim", type=int, default=ModelConfig.embedding_dim)
    p.add_argument("--text-embeddings", default=None, help="precomputed class text embeddings (.npy [classes, d] or .json {class_id: [..]}); default: hashed n-grams of the descriptions")


def command_line() -> str:
    """This run's command, recorded in checkpoints, manifests and RESULTS.md."""
    return "python3 -m encoders " + " ".join(shlex.quote(a) for a in sys.argv[1:])
