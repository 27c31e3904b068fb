"""Rebuild the small real data sets bundled for the tests (``encoders/tests/fixtures/datasets``).

    /usr/bin/python3 -m encoders.tools.make_fixtures --from /path/to/datasets [--out DIR] [--check]

``--from`` is a full copy of the data sets (the folder holding ``utd-mhad/``, ``sp-sw-har/`` and
``mmfit-labels/``; see the README's "Data sets"). The selection below is the whole definition of
the fixtures: every data file is copied byte for byte (nothing is resampled, trimmed or
synthesised), checked against the full copy's ``SHA256SUMS``, and listed with its sha256 in
the fixture's own ``SHA256SUMS``; ``index.csv`` (UTD-MHAD) keeps only the selected rows. Each
fixture gets a ``PROVENANCE.md`` naming the upstream source, the files and the licence.
``--check`` rebuilds into a temporary folder and compares it with ``--out`` instead of writing.

Why these files: UTD-MHAD subjects 1 and 2 (one cross-subject training and one test subject),
all 27 actions, trials 1-2, so every class, both sensor placements and the train/test split
are present; sp-sw-har one execution of subject 1 (training split) and of subject 17 (test
split), both devices; MM-Fit the label CSVs of w09 (test) and w16 (train).
"""

from __future__ import annotations

import argparse
import csv
import filecmp
import hashlib
import io
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from encoders.data.paths import fixtures_root

UTD_SUBJECTS: Final = (1, 2)
UTD_TRIALS: Final = (1, 2)
UTD_ACTIONS: Final = tuple(range(1, 28))
SPSW_EXECUTIONS: Final = ("s01_01", "s17_01")
MMFIT_WORKOUTS: Final = ("w09", "w16")


def default_out() -> Path:
    return fixtures_root()


@dataclass(frozen=True)
class Fixture:
    name: str
    data_files: tuple[str, ...]  # copied byte for byte and checked against the source SHA256SUMS
    side_files: tuple[str, ...]  # small descriptive files copied as they are (not in SHA256SUMS upstream)
    provenance: str


def utd_files() -> tuple[str, ...]:
    stems = [f"a{a}_s{s}_t{t}" for a in UTD_ACTIONS for s in UTD_SUBJECTS for t in UTD_TRIALS]
    return tuple(f"Inertial/{x}_inertial.mat" for x in stems) + tuple(f"Skeleton/{x}_skeleton.mat" for x in stems)


def spsw_files() -> tuple[str, ...]:
    return tuple(f"{e[:3]}/{e}_{d}.csv" for e in SPSW_EXECUTIONS for d in ("sp", "sw"))


def mmfit_files() -> tuple[str, ...]:
    # Only the label files: no loader reads the heart-rate arrays, and MM-Fit's terms are unverified.
    return tuple(f"{w}/{w}_labels.csv" for w in MMFIT_WORKOUTS)


def _table(files: tuple[str, ...]) -> str:
    return "\n".join(f"- `{f}`" for f in files)


UTD_PROVENANCE: Final = """# UTD-MHAD — test fixture (a real subset)

A byte-for-byte subset of the UTD-MHAD inertial and skeleton files, small enough to live in
the repository so the trainer's tests run on a bare clone. Rebuild it from a full copy with
`/usr/bin/python3 -m encoders.tools.make_fixtures --from DATASETS`.

## What is here

Subjects {subjects} (cross-subject split: 1 = train, 2 = test), all 27 actions, trials
{trials}: {count} clips, each as `Inertial/aA_sS_tT_inertial.mat` (`d_iner`, 50 Hz, acc in g,
gyro in deg/s) and `Skeleton/aA_sS_tT_skeleton.mat` (`d_skel`, 20 Kinect joints). Also
`actions.csv`, `skeleton_joint_order.txt` and the matching rows of `index.csv` (a file made
alongside the full copy, not part of the original release). `SHA256SUMS` lists every `.mat`.

## Source

The public UTD-MHAD release by its authors (dataset page www.utdallas.edu/~kehtar/UTD-MHAD.html),
as mirrored in GitHub repository `woo-chia-wei/kinect-sequence-classification`, commit
`65e9b13950d7971c8d1e49e960f6796bd0dc9257`, folders `data/Inertial/` and `data/Skeleton/`.
The files were not altered.

## Licence and citation

The authors describe UTD-MHAD as freely available for research; no formal licence text was
found. Cite:

> C. Chen, R. Jafari, N. Kehtarnavaz. "UTD-MHAD: A Multimodal Dataset for Human Action
> Recognition Utilizing a Depth Camera and a Wearable Inertial Sensor." Proc. IEEE
> International Conference on Image Processing (ICIP), Quebec City, Canada, 2015.
"""

SPSW_PROVENANCE: Final = """# sp-sw-har — test fixture (a real subset)

A byte-for-byte subset of the smartphone + smartwatch HAR data set of Matey-Sanz et al.,
small enough to live in the repository so the trainer's tests run on a bare clone. Rebuild it
from a full copy with `/usr/bin/python3 -m encoders.tools.make_fixtures --from DATASETS`.

## What is here

{files}

(executions {executions}: subject 1 is in the training split, subject 17 in the test split),
plus `subjects_info.csv` and `executions_info.csv` of the full release. Columns
`x_acc,y_acc,z_acc,x_gyro,y_gyro,z_gyro,timestamp,label` (m/s² with gravity, rad/s, unix ms),
about 100 Hz, a label per sample. `SHA256SUMS` lists every file.

## Source

GitHub repository `GeoTecINIT/sp-sw-har-dataset`, commit
`1408d85a512a53861de7bc4729dee283fff2ea9d`, folder `DATA/` (Zenodo DOI 10.5281/zenodo.8398688).
The files were not altered.

## Licence and citation

Creative Commons Attribution 4.0 International (CC BY 4.0). Cite:

> M. Matey-Sanz, S. Casteleyn, C. Granell. 2023. Dataset of inertial measurements of
> smartphones and smartwatches for human activity recognition. Data in Brief, 109809.
> DOI 10.1016/j.dib.2023.109809
"""

MMFIT_PROVENANCE: Final = """# MM-Fit labels — test fixture (a real subset)

A byte-for-byte subset of the MM-Fit per-workout label files, small enough to live in the repository so the trainer's tests run on a bare clone.
Rebuild it from a full copy with `/usr/bin/python3 -m encoders.tools.make_fixtures --from DATASETS`.

## What is here

{files}

(workouts {workouts}: w09 is in MM-Fit's test split, w16 in its training split).
`wNN_labels.csv`: no header, `start_frame,end_frame,repetitions,exercise` (30 fps video
frames). `SHA256SUMS` lists every file. No heart-rate, IMU or pose arrays.

## Source

The MM-Fit release (D. Strömbäck et al., starter code in GitHub repository
`KDMStromback/mm-fit`), as committed in GitHub repository `rjt2004/fitness-action-eval`,
commit `ef59e4c4ed4a3a1d0c641f1ea04d042b67c37f9e`, folder `mm-fit/`. The files were not altered.

## Licence and citation

The MM-Fit starter code is MIT-licensed; the data set's own terms are published on the
MM-Fit website and were not verified here, so treat these files as research-use only. Cite:

> D. Strömbäck, S. Huang, V. Radu. 2020. MM-Fit: Multimodal Deep Learning for Automatic
> Exercise Logging across Sensing Devices. Proc. ACM IMWUT 4(4), Article 168.
> DOI 10.1145/3432701
"""


def fixtures() -> tuple[Fixture, ...]:
    utd = utd_files()
    spsw = spsw_files()
    mmfit = mmfit_files()
    return (
        Fixture(
            "utd-mhad",
            utd,
            ("actions.csv", "skeleton_joint_order.txt"),
            UTD_PROVENANCE.format(
                subjects=" and ".join(map(str, UTD_SUBJECTS)),
                trials=" and ".join(map(str, UTD_TRIALS)),
                count=len(utd) // 2,
            ),
        ),
        Fixture(
            "sp-sw-har",
            spsw + ("subjects_info.csv", "executions_info.csv"),
            (),
            SPSW_PROVENANCE.format(files=_table(spsw), executions=", ".join(SPSW_EXECUTIONS)),
        ),
        Fixture("mmfit-labels", mmfit, (), MMFIT_PROVENANCE.format(files=_table(mmfit), workouts=", ".join(MMFIT_WORKOUTS))),
    )


class FixtureError(RuntimeError):
    pass


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _source_sums(folder: Path) -> dict[str, str]:
    sums_file = folder / "SHA256SUMS"
    if not sums_file.is_file():
        raise FixtureError(f"{sums_file}: missing (is {folder.parent} a full copy of the data sets?)")
    sums: dict[str, str] = {}
    for line in sums_file.read_text(encoding="utf-8").splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            sums[name.strip().removeprefix("./")] = digest
    return sums


def _utd_index(source: Path, files: tuple[str, ...]) -> str:
    wanted = set(files)
    with (source / "index.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(rows[0])
    inertial = rows[0].index("inertial_file")
    writer.writerows(r for r in rows[1:] if r[inertial] in wanted)
    return out.getvalue()


def build(source_root: Path, out_root: Path) -> list[tuple[str, int, int]]:
    """Write every fixture under ``out_root``; returns (name, files, bytes) per fixture."""
    report = []
    for fx in fixtures():
        source = source_root / fx.name
        sums = _source_sums(source)
        target = out_root / fx.name
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        lines = []
        for name in fx.data_files:
            src = source / name
            if not src.is_file():
                raise FixtureError(f"{src}: missing from the full copy")
            digest = _sha256(src)
            if sums.get(name) != digest:
                raise FixtureError(f"{src}: sha256 {digest} does not match {source / 'SHA256SUMS'}")
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target / name)
            lines.append(f"{digest}  ./{name}\n")
        for name in fx.side_files:
            shutil.copyfile(source / name, target / name)
        if fx.name == "utd-mhad":
            (target / "index.csv").write_text(_utd_index(source, fx.data_files), encoding="utf-8")
        (target / "SHA256SUMS").write_text("".join(sorted(lines, key=lambda line: line.split()[1])), encoding="utf-8")
        (target / "PROVENANCE.md").write_text(fx.provenance, encoding="utf-8")
        files = [p for p in target.rglob("*") if p.is_file()]
        report.append((fx.name, len(files), sum(p.stat().st_size for p in files)))
    return report


def differences(a: Path, b: Path) -> list[str]:
    """Relative paths that differ between two fixture trees (missing on either side or other bytes)."""
    names_a = {p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file()}
    names_b = {p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file()}
    diff = sorted(names_a ^ names_b)
    diff += sorted(n for n in names_a & names_b if not filecmp.cmp(a / n, b / n, shallow=False))
    return diff


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m encoders.tools.make_fixtures", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--from", dest="source", type=Path, required=True, help="full copy of the data sets (the folder holding utd-mhad/, sp-sw-har/, mmfit-labels/)")
    parser.add_argument("--out", type=Path, default=default_out(), help="fixture folder (default encoders/tests/fixtures/datasets)")
    parser.add_argument("--check", action="store_true", help="compare a fresh build with --out instead of writing it")
    args = parser.parse_args(argv)
    try:
        if args.check:
            with tempfile.TemporaryDirectory() as tmp:
                build(args.source, Path(tmp))
                diff = differences(Path(tmp), args.out)
            if diff:
                print(f"error: {args.out} differs from a fresh build: {', '.join(diff[:10])}", file=sys.stderr)
                return 1
            print(f"{args.out} matches a fresh build from {args.source}")
            return 0
        for name, count, size in build(args.source, args.out):
            print(f"{name}: {count} files, {size / 1e6:.2f} MB")
    except FixtureError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
