"""Command line: ``python3 -m encoders <command>``; the only package that parses arguments.

Data: prepare, make-recording, import-csv, make-rep-sets, make-rep-fixture (:mod:`.data`).
Models: pretrain, train, finetune, evaluate, export, train-default (the one command a newcomer
runs), enroll (:mod:`.models`). RESULTS.md: results, few-shot-eval, spswhar, virtual-imu (:mod:`.reports`).
Each handler builds the library's typed config from its options; library code never sees
an ``argparse.Namespace``.
"""

from __future__ import annotations

import argparse
import sys

from encoders import __version__
from encoders.cli import data, models, reports


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python3 -m encoders", description="MuJo-style joint-space trainer for mujo-gateway: train, evaluate and export IMU/pose encoders.")
    parser.add_argument("--version", action="version", version=f"encoders {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    data.register(sub)
    models.register(sub)
    reports.register(sub)
    return parser


def _configure_torch(threads: int | None) -> None:
    from encoders.runtime import blas_library, configure_threads

    used = configure_threads(threads)
    print(f"encoders {__version__}: torch threads {used}; BLAS {blas_library()}", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.uses_torch:
        _configure_torch(args.threads)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
