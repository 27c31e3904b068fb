"""Data sub-commands: prepare, make-recording, import-csv, make-rep-sets, make-rep-fixture.

:func:`register` adds them to the top-level parser; each stores its handler as ``func`` (a
function of the parsed ``argparse.Namespace`` returning an exit code). None of them needs
torch, so they skip its thread set-up (``uses_torch``).
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path

import numpy as np

from encoders.cli.common import command_line
from encoders.data.errors import DatasetError
from encoders.data.paths import datasets_root, demo_recording, repo_root


def _subjects(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"subjects must be comma-separated integers, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("at least one subject is needed")
    return values


def register(subparsers: argparse._SubParsersAction) -> None:  # argparse has no public type for it
    prepare = subparsers.add_parser(
        "prepare",
        help="load and validate the datasets, print counts (optionally cache UTD-MHAD to .npz)",
        description="Load every dataset found under the datasets root, validate it and print counts.",
    )
    prepare.add_argument("--datasets", type=Path, default=None, help="folder holding utd-mhad/, sp-sw-har/, mmfit-labels/ (default $MUJO_DATASETS; see the README, Data sets)")
    prepare.add_argument("--cache", type=Path, default=None, help="write UTD-MHAD clips to this .npz file")
    prepare.set_defaults(func=run_prepare)

    make = subparsers.add_parser(
        "make-recording",
        help="build the bundled demo recording from UTD-MHAD test subjects",
        description="Build a gateway recording (docs/recording-format.md) from real UTD-MHAD clips.",
    )
    make.add_argument("--out", type=Path, default=demo_recording(), help="output directory (default recordings/demo)")
    make.add_argument("--subjects", type=_subjects, default=None, help="comma-separated UTD-MHAD subjects (default 2,4,6,8)")
    make.add_argument("--seed", type=int, default=0, help="seed of the per-subject clip order (default 0)")
    make.add_argument("--datasets", type=Path, default=None, help="folder holding utd-mhad/, sp-sw-har/, mmfit-labels/ (default $MUJO_DATASETS; see the README, Data sets)")
    make.set_defaults(func=run_make_recording)

    imp = subparsers.add_parser(
        "import-csv",
        help="turn a folder of IMU CSV files (+ a labels file) into a recording for finetune / enroll",
        description="One CSV per subject's IMU (any rate; time + acceleration [+ angular rate] columns, units declared or detected) and a labels file "
        "(subject,start,end,activity on the data's clock) become a recording (docs/recording-format.md). See docs/teach-your-activities.md.",
    )
    imp.add_argument("folder", type=Path, help="folder with one *.csv per subject (subject id = file name)")
    imp.add_argument("--labels", type=Path, default=None, help="labels CSV: subject (or file),start,end,activity; default: a label column in the data files")
    imp.add_argument("--out", type=Path, required=True, help="recording directory to write")
    imp.add_argument("--time-unit", choices=("auto", "s", "ms", "us", "ns"), default="auto")
    imp.add_argument("--acc-unit", choices=("auto", "g", "m/s^2"), default="auto")
    imp.add_argument("--gyro-unit", choices=("auto", "deg/s", "rad/s"), default="auto")
    imp.add_argument("--rate", type=float, default=None, help="sample rate in Hz: settles the time unit, or gives the times of files without a time column")
    imp.add_argument("--placement", default="wrist", help="where the IMU was worn (wrist, thigh, chest, ankle, waist, upper_arm, pocket, unknown)")
    imp.add_argument("--label-times", choices=("data", "relative"), default="data", help="label times on the data's own clock (default) or relative to each file's first sample")
    imp.add_argument("--label-time-unit", choices=("s", "ms", "us", "ns"), default=None, help="unit of the label times (default: the data's time unit for --label-times data, seconds for relative)")
    imp.set_defaults(func=run_import_csv)
    reps = subparsers.add_parser(
        "make-rep-sets",
        help="build repetition sets with an exact count from UTD-MHAD (bench/reps)",
        description="Play each subject's clips of one repetitive action back to back: sets with a known rep count.",
    )
    reps.add_argument("--out", type=Path, required=True, help="output recording directory (also gets sets.json)")
    reps.add_argument("--datasets", type=Path, default=None, help="datasets root (default: $MUJO_DATASETS)")
    reps.add_argument("--subjects", type=_subjects, default=(1, 2, 3, 4, 5, 6, 7, 8), help="comma-separated subjects (default all 8)")
    reps.add_argument("--seed", type=int, default=0)
    reps.set_defaults(func=run_make_rep_sets)

    fixture = subparsers.add_parser(
        "make-rep-fixture",
        help="build the small rep-set fixture of the gateway tests from a recording (default the demo)",
    )
    fixture.add_argument("--recording", type=Path, default=demo_recording())
    fixture.add_argument("--out", type=Path, default=Path("test/fixtures/rep-sets"))
    fixture.set_defaults(func=run_make_rep_fixture)
    for parser in (prepare, make, imp, reps, fixture):
        parser.set_defaults(uses_torch=False)


def run_prepare(args: argparse.Namespace) -> int:
    from encoders.data.utd_mhad import CROSS_SUBJECT_TEST, CROSS_SUBJECT_TRAIN, load_utd_mhad

    root = args.datasets or datasets_root()
    print(f"datasets root: {root}")
    started = time.perf_counter()
    try:
        clips = load_utd_mhad(root)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    per_subject = collections.Counter(c.subject for c in clips)
    train = sum(per_subject[s] for s in CROSS_SUBJECT_TRAIN)
    test = sum(per_subject[s] for s in CROSS_SUBJECT_TEST)
    samples = sum(c.imu.shape[0] for c in clips)
    frames = sum(c.pose.shape[0] for c in clips)
    print(
        f"utd-mhad: {len(clips)} clips ({train} train / {test} test), {len({c.action for c in clips})} classes, "
        f"{samples} IMU samples, {frames} pose frames, per subject {dict(sorted(per_subject.items()))} "
        f"[{time.perf_counter() - started:.1f} s]"
    )
    status = 0
    for name, report in _optional_reports(root):
        print(f"{name}: {report}")
        if report.startswith("error"):
            status = 1
    if args.cache is not None:
        _write_cache(args.cache, clips)
        print(f"cache: {args.cache} ({args.cache.stat().st_size} bytes)")
    return status


def _optional_reports(root: Path) -> list[tuple[str, str]]:
    """Counts for the secondary datasets that are present (absent ones are reported as such)."""
    reports: list[tuple[str, str]] = []
    try:
        from encoders.data.spswhar import load_spswhar

        if (root / "sp-sw-har").is_dir():
            seqs = load_spswhar(root)
            reports.append(
                ("sp-sw-har", f"{len(seqs)} sequences, {len({s.subject for s in seqs})} subjects, "
                 f"{sum(s.watch.t_ms.shape[0] + s.phone.t_ms.shape[0] for s in seqs)} raw samples")
            )
        else:
            reports.append(("sp-sw-har", "not present"))
    except DatasetError as exc:
        reports.append(("sp-sw-har", f"error: {exc}"))
    try:
        from encoders.data.mmfit import load_mmfit_labels

        if (root / "mmfit-labels").is_dir():
            sets = load_mmfit_labels(root / "mmfit-labels")
            reports.append(("mmfit-labels", f"{sum(len(v) for v in sets.values())} exercise sets in {len(sets)} workouts"))
        else:
            reports.append(("mmfit-labels", "not present"))
    except DatasetError as exc:
        reports.append(("mmfit-labels", f"error: {exc}"))
    return reports


def _write_cache(path: Path, clips: list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path,
        keys=np.array([[c.action, c.subject, c.trial] for c in clips], dtype=np.int16),
        imu_lengths=np.array([c.imu.shape[0] for c in clips], dtype=np.int32),
        imu=np.concatenate([c.imu for c in clips]),
        pose_lengths=np.array([c.pose.shape[0] for c in clips], dtype=np.int32),
        pose=np.concatenate([c.pose for c in clips]),
        pose_times_s=np.concatenate([c.pose_times_s for c in clips]),
    )


def run_make_recording(args: argparse.Namespace) -> int:
    from encoders.data.make_recording import make_recording
    from encoders.data.utd_mhad import CROSS_SUBJECT_TEST

    subjects = args.subjects or CROSS_SUBJECT_TEST
    out = Path(args.out)
    try:
        command_out = out.resolve().relative_to(repo_root()).as_posix()
    except ValueError:
        command_out = str(out)
    try:
        written = make_recording(out, subjects=subjects, seed=args.seed, datasets=args.datasets, command_out=command_out)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    size = sum(p.stat().st_size for p in written.rglob("*") if p.is_file())
    print(f"wrote {written} ({size / 1e6:.2f} MB)")
    return 0


def run_import_csv(args: argparse.Namespace) -> int:
    from encoders.data.import_csv import import_csv_folder

    command = command_line()
    try:
        report = import_csv_folder(
            args.folder, args.out, labels=args.labels, time_unit=args.time_unit, acc_unit=args.acc_unit, gyro_unit=args.gyro_unit,
            rate_hz=args.rate, placement=args.placement, label_times=args.label_times, label_time_unit=args.label_time_unit, command=command,
        )
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for f in report.files:
        units = ", ".join(f"{k} {v}" for k, v in f.units.items())
        print(f"{f.path.name}: subject {f.subject}, {len(f.t_ns)} samples at {f.rate_hz:.1f} Hz; {units}")
    counts: dict[str, int] = {}
    for iv in report.labels:
        counts[iv.activity] = counts.get(iv.activity, 0) + 1
    print(f"labels: {len(report.labels)} intervals: " + ", ".join(f"{a} x{n}" for a, n in sorted(counts.items())))
    print(f"wrote {report.out}")
    return 0
def run_make_rep_sets(args: argparse.Namespace) -> int:
    from encoders.data.rep_sets import make_rep_sets

    try:
        datasets = args.datasets or datasets_root()
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    subjects = ",".join(str(s) for s in args.subjects)
    command = f"python3 -m encoders make-rep-sets --out {args.out} --subjects {subjects} --seed {args.seed} --datasets $MUJO_DATASETS"
    try:
        out = make_rep_sets(Path(args.out), datasets=datasets, subjects=tuple(args.subjects), seed=args.seed, command=command)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    sets = json.loads((out / "sets.json").read_text())["sets"]
    print(f"{out}: {len(sets)} sets, {sum(s['count'] for s in sets)} reps")
    return 0


def run_make_rep_fixture(args: argparse.Namespace) -> int:
    from encoders.data.rep_sets import make_rep_fixture

    command = f"python3 -m encoders make-rep-fixture --recording {args.recording} --out {args.out}"
    out = make_rep_fixture(Path(args.out), recording=Path(args.recording), command=command)
    sets = json.loads((out / "sets.json").read_text())["sets"]
    print(f"{out}: {len(sets)} sets, {sum(s['count'] for s in sets)} reps")
    return 0
