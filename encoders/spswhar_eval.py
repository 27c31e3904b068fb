"""sp-sw-har: a second IMU-only evaluation, and watch↔phone contrastive pretraining.

1. **Evaluation**: the smartwatch (wrist) stream of sp-sw-har, 2 s windows at 50 Hz cut on the
   gateway's 0.5 s hop grid, cross-subject (train s01-s16, test s17-s23), 5 classes. The IMU
   encoder is the default model's (``imu-resnet1d``), trained with the package's supervised
   loss against class anchors initialised from the class descriptions.
2. **Pretraining**: sp-sw-har's watch and phone record the same person at the same time, so
   the watch window and the phone window ending at the same instant are a natural positive
   pair. The joint model's second tower is built as another ``imu-resnet1d`` (the registry's
   ``pose_model`` slot) and trained with the package's IMU↔pose InfoNCE loop on the training
   subjects' windows, labels unused. The watch tower is then fine-tuned on sp-sw-har and on
   UTD-MHAD IMU only, against the same runs from scratch.

No second training loop: :func:`encoders.train.pretrain_contrastive` and
:func:`encoders.train.train_supervised` run unchanged on this module's batchers. For IMU-only
supervision the loop sees :class:`ImuOnlyView`, whose pose slot *is* the IMU encoder fed a
second, independently augmented crop of the same window, so every modality subset the loop
draws (IMU, "pose", fused) is the IMU encoder and the loss is purely IMU-only.
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np
import torch
from torch import nn

from encoders.data.paths import repo_root
from encoders.data.spswhar import DEFAULT_WINDOW, SPSW_CLASSES, load_spswhar, sequence_windows, spswhar_windows
from encoders.data.windows import NS_PER_S, WindowSpec
from encoders.evaluate import class_logits, embed, evaluate_clips
from encoders.metrics import mean_std, summarise
from encoders.models.imu import ImuEncoder
from encoders.models.joint import ClassInfo, JointModel, ModelConfig
from encoders.pairs import ALIGN_STEP, IMU_RATE_HZ, IMU_WINDOW, PairedClip, WindowRef, crop, imu_statistics, labelled_subset, max_start, window_starts
from encoders.results_md import RESULTS_MD, SPSWHAR_BLOCK, write_block
from encoders.runtime import seed_everything
from encoders.splits import UtdSplit, load_utd_split, utd_classes
from encoders.train import BATCH_SIZE, FINETUNE_LR, LR, PRETRAIN_STEPS, TrainConfig, augment, build_model, pretrain_contrastive, train_supervised

TRAIN_SUBJECTS = tuple(range(1, 17))
TEST_SUBJECTS = tuple(range(17, 24))
SPLIT_DESCRIPTION = "cross-subject: train s01-s16 (16 subjects), test s17-s23 (7 subjects)"
#: the descriptions the class anchors start from (Timed-Up-and-Go phases)
CLASS_DESCRIPTIONS = {
    "seated": "Seated: sitting still on a chair",
    "standing_up": "Standing up: rising from a chair to a standing position",
    "walking": "Walking: walking straight ahead at a normal pace",
    "turning": "Turning: turning around 180 degrees while walking",
    "sitting_down": "Sitting down: lowering oneself from standing onto a chair",
}
#: training crops lie on a 0.1 s grid (like UTD-MHAD's aligned steps); ±2 steps of jitter
FINE_HOP_S = 0.1
JITTER = 2
#: supervised steps per run (the IMU encoder alone converges sooner than the joint model)
DEFAULT_STEPS = 200
#: initialisations compared, with their learning rates: the pretrained encoder is fine-tuned at
#: the package's lower post-pretraining rate *and* at the from-scratch rate, so the gain is not
#: confounded with the rate
INITS = {"none": LR, "watch-phone": FINETUNE_LR, "watch-phone-lr2e-3": LR}
INIT_NAMES = {
    "none": "none (from scratch, lr 2e-3)",
    "watch-phone": "watch↔phone InfoNCE, fine-tune lr 5e-4",
    "watch-phone-lr2e-3": "watch↔phone InfoNCE, fine-tune lr 2e-3",
}


@dataclass(frozen=True)
class SpswharRun:
    """``spswhar``: seeds × label fractions × initialisations, on sp-sw-har and UTD-MHAD."""

    datasets: Path | None
    seeds: Sequence[int] = (0, 1, 2)
    fractions: Sequence[float] = (0.1, 1.0)
    steps: int = DEFAULT_STEPS
    #: watch↔phone contrastive steps per seed
    pretrain_steps: int = PRETRAIN_STEPS
    #: RESULTS.md whose sp-sw-har block is rewritten
    out: Path = RESULTS_MD
    #: per-run raw results (JSON), rewritten after every run (None: not written)
    raw: Path | None = repo_root() / "runs" / "spswhar-raw.json"


def spsw_classes() -> list[ClassInfo]:
    return [ClassInfo(c, c.replace("_", " "), CLASS_DESCRIPTIONS[c], c.upper()) for c in SPSW_CLASSES]


def split_sequences(sequences: Sequence, train: Sequence[int] = TRAIN_SUBJECTS, test: Sequence[int] = TEST_SUBJECTS) -> tuple[list, list]:
    """Sequences of the training and the test subjects; overlapping subject lists are an error."""
    overlap = sorted(set(train) & set(test))
    if overlap:
        raise ValueError(f"train and test subjects overlap: {overlap}")
    return [s for s in sequences if s.subject in set(train)], [s for s in sequences if s.subject in set(test)]


# --------------------------------------------------------------------------- window pools


@dataclass
class WindowPool:
    """Every training crop on a fine grid, plus which of them are the gateway's windows.

    ``x[i]`` is a [6, 100] window; ``seq[i]`` its sequence, so jitter never crosses into another
    recording. ``anchors`` index the windows on the 0.5 s hop grid (what a label fraction
    selects from); ``anchor_labels`` their labels. ``paired``/``partner`` hold the rows that
    have a simultaneous window of a second device (sp-sw-har's phone), row by row.
    """

    x: np.ndarray
    seq: np.ndarray
    end_ns: np.ndarray
    anchors: np.ndarray
    anchor_labels: np.ndarray
    paired: np.ndarray
    partner: np.ndarray
    subjects: frozenset[int]


def spswhar_pool(sequences: Sequence, fine_hop_s: float = FINE_HOP_S) -> WindowPool:
    """Watch windows of ``sequences`` every ``fine_hop_s``, each paired with the phone window
    ending at the same instant on the sequence's common time base (where the phone has one)."""
    fine = WindowSpec(length_s=DEFAULT_WINDOW.length_s, hop_s=fine_hop_s, rate_hz=DEFAULT_WINDOW.rate_hz)
    hop_ns = DEFAULT_WINDOW.hop_ns
    xs, seqs, ends, labels, partners, paired_rows = [], [], [], [], [], []
    offset = 0
    for index, sequence in enumerate(sequences):
        end_w, x_w, y_w = sequence_windows(sequence, "watch", fine)
        end_p, x_p, _ = sequence_windows(sequence, "phone", fine)
        _, iw, ip = np.intersect1d(end_w, end_p, assume_unique=True, return_indices=True)
        xs.append(np.transpose(x_w, (0, 2, 1)))
        seqs.append(np.full(end_w.shape[0], index, dtype=np.int64))
        ends.append(end_w)
        labels.append(y_w)
        paired_rows.append(iw + offset)
        partners.append(np.transpose(x_p[ip], (0, 2, 1)))
        offset += end_w.shape[0]
    x = np.ascontiguousarray(np.concatenate(xs), dtype=np.float32)
    end_ns = np.concatenate(ends)
    y = np.concatenate(labels)
    anchors = np.flatnonzero((end_ns % hop_ns == 0) & (y >= 0))
    return WindowPool(
        x=x,
        seq=np.concatenate(seqs),
        end_ns=end_ns,
        anchors=anchors,
        anchor_labels=y[anchors],
        paired=np.concatenate(paired_rows),
        partner=np.ascontiguousarray(np.concatenate(partners), dtype=np.float32),
        subjects=frozenset(int(s.subject) for s in sequences),
    )


def utd_pool(clips: Sequence[PairedClip]) -> WindowPool:
    """UTD-MHAD IMU crops on the 0.1 s aligned grid; anchors are ``pairs.window_starts``."""
    xs, seqs, ends, anchors, labels = [], [], [], [], []
    row = 0
    for index, clip in enumerate(clips):
        hop_starts = set(window_starts(clip))
        for start in range(0, max_start(clip) + 1, ALIGN_STEP):
            xs.append(crop(clip, start)[0])
            seqs.append(index)
            ends.append(int((start + IMU_WINDOW) * NS_PER_S / IMU_RATE_HZ))
            if start in hop_starts:
                anchors.append(row)
                labels.append(clip.label)
            row += 1
    return WindowPool(
        x=np.ascontiguousarray(np.stack(xs), dtype=np.float32),
        seq=np.asarray(seqs, dtype=np.int64),
        end_ns=np.asarray(ends, dtype=np.int64),
        anchors=np.asarray(anchors, dtype=np.int64),
        anchor_labels=np.asarray(labels, dtype=np.int64),
        paired=np.empty(0, dtype=np.int64),
        partner=np.empty((0, 6, IMU_WINDOW), dtype=np.float32),
        subjects=frozenset(int(c.subject) for c in clips),
    )


def stratified_anchors(pool: WindowPool, fraction: float, num_classes: int, seed: int) -> np.ndarray:
    """Anchor rows of a stratified label fraction (``pairs.labelled_subset``'s rule)."""
    refs = [WindowRef(i, 0) for i in range(pool.anchors.shape[0])]
    holders = [_Anchor(int(label)) for label in pool.anchor_labels]
    chosen = labelled_subset(refs, holders, fraction, num_classes, seed)
    return np.asarray([r.clip for r in chosen], dtype=np.int64)


def _augment_imu(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # train.augment's IMU half (mounting rotation, gains, noise); its pose half gets a stub.
    return augment(x, np.zeros((x.shape[0], 1, 17, 3), dtype=np.float32), rng)[0]


class LabelledBatcher:
    """Draws labelled windows (jittered ±JITTER fine steps) as two independently augmented
    views: the train loop's IMU slot and, through :class:`ImuOnlyView`, its pose slot."""

    def __init__(self, pool: WindowPool, chosen: np.ndarray, batch_size: int, rng: np.random.Generator, jitter: int = JITTER) -> None:
        if chosen.size == 0:
            raise ValueError("no labelled training windows to draw from")
        self.pool, self.chosen, self.batch_size, self.rng, self.jitter = pool, chosen, batch_size, rng, jitter
        self.refs = chosen  # epoch length for the progress lines

    def draw(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pool, rng = self.pool, self.rng
        picks = self.chosen[rng.integers(0, self.chosen.size, size=self.batch_size)]
        rows = pool.anchors[picks]
        shifted = np.clip(rows + rng.integers(-self.jitter, self.jitter + 1, size=rows.shape[0]), 0, pool.x.shape[0] - 1)
        rows = np.where(pool.seq[shifted] == pool.seq[rows], shifted, rows)
        x = pool.x[rows]
        # The anchor's label, not the shifted crop's: only the selected windows are labelled.
        labels = pool.anchor_labels[picks]
        return torch.from_numpy(_augment_imu(x, rng)), torch.from_numpy(_augment_imu(x, rng)), torch.from_numpy(labels)

    def draw_with_presence(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The train loop's interface: both slots always hold a view, so both are present."""
        imu, pose, labels = self.draw()
        present = torch.ones(labels.shape[0], dtype=torch.bool)
        return imu, pose, labels, present, present.clone()


class PairBatcher:
    """Draws simultaneous (watch, phone) windows of the training subjects; no labels."""

    def __init__(self, pool: WindowPool, batch_size: int, rng: np.random.Generator) -> None:
        if pool.paired.size == 0:
            raise ValueError("no simultaneous watch/phone windows to pretrain on")
        self.pool, self.batch_size, self.rng = pool, batch_size, rng
        self.refs = pool.paired

    def draw(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        picks = self.rng.integers(0, self.pool.paired.size, size=self.batch_size)
        watch = self.pool.x[self.pool.paired[picks]]
        phone = self.pool.partner[picks]
        dummy = torch.zeros(self.batch_size, dtype=torch.int64)
        return torch.from_numpy(_augment_imu(watch, self.rng)), torch.from_numpy(_augment_imu(phone, self.rng)), dummy


class ImuOnlyView(nn.Module):
    """A joint model seen through its IMU encoder alone (see the module docstring)."""

    def __init__(self, model: JointModel) -> None:
        super().__init__()
        self.model = model
        self.imu = model.imu
        self.pose = model.imu
        self.config = model.config

    def logits(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.model.logits(embeddings)

    def prototypes(self) -> torch.Tensor:
        return self.model.prototypes()


# --------------------------------------------------------------------------- models and runs


@dataclass(frozen=True)
class _Anchor:
    """One labelled anchor window, as ``pairs.labelled_subset`` sees a clip."""

    label: int


@dataclass(frozen=True)
class _ImuRows:
    """IMU samples [N, 6], as ``pairs.imu_statistics`` / ``train.build_model`` see a clip."""

    imu: np.ndarray
    has_imu: bool = True


def _stats(x: np.ndarray) -> list[_ImuRows]:
    # windows [n, 6, T] -> one block of samples [n * T, 6] for the per-channel statistics
    return [_ImuRows(np.transpose(x, (0, 2, 1)).reshape(-1, 6))]


def spsw_model(pool: WindowPool, seed: int) -> JointModel:
    """Watch tower + phone tower (both ``imu-resnet1d``) and anchors from the descriptions."""
    seed_everything(seed)
    model = build_model(spsw_classes(), _stats(pool.x[pool.anchors]), ModelConfig(pose_model="imu-resnet1d"))
    mean, std = imu_statistics(_stats(pool.partner))
    phone = model.pose
    if not isinstance(phone, ImuEncoder):
        raise TypeError(f"the phone tower must be an IMU encoder, got {type(phone).__name__}")
    phone.set_normalisation(torch.from_numpy(mean), torch.from_numpy(std))
    return model


def pretrain(pool: WindowPool, steps: int, seed: int, out: TextIO | None = sys.stdout, batch_size: int = BATCH_SIZE) -> tuple[JointModel, list[dict], float, int]:
    """watch↔phone InfoNCE with the package's contrastive loop. Returns (model, history, s, samples)."""
    model = spsw_model(pool, seed)
    config = TrainConfig(strategy="pretrain-finetune", steps=0, pretrain_steps=steps, batch_size=batch_size, lr=LR, seed=seed, log_every=max(1, min(100, steps // 4)))
    started = time.perf_counter()
    history, samples = pretrain_contrastive(model, PairBatcher(pool, batch_size, np.random.default_rng(seed + 1)), config, steps, out)
    model.eval()
    return model, history, time.perf_counter() - started, 2 * samples


def finetune(model: JointModel, pool: WindowPool, fraction: float, steps: int, seed: int, lr: float, phase: str, out: TextIO | None = sys.stdout, batch_size: int = BATCH_SIZE) -> tuple[list[dict], float, int, int]:
    """The package's supervised loop on the IMU encoder only. Returns (history, s, samples, labelled windows)."""
    chosen = stratified_anchors(pool, fraction, len(model.classes), seed)
    config = TrainConfig(strategy="supervised", label_fraction=fraction, steps=steps, batch_size=batch_size, lr=lr, seed=seed, log_every=max(1, min(100, steps // 4)))
    batcher = LabelledBatcher(pool, chosen, batch_size, np.random.default_rng(seed))
    started = time.perf_counter()
    history, samples = train_supervised(ImuOnlyView(model), batcher, None, config, steps, out, phase, lr)
    model.eval()
    return history, time.perf_counter() - started, 2 * samples, int(chosen.size)


def transfer_watch_encoder(source: JointModel, target: JointModel) -> None:
    """Copy the pretrained watch tower's weights; the target keeps its own data's normalisation."""
    target.imu.trunk.load_state_dict(source.imu.trunk.state_dict())


def evaluate_windows(model: JointModel, x: np.ndarray, y: np.ndarray) -> dict:
    predicted = class_logits(model, embed(model, "imu", x)).argmax(axis=1)
    return summarise(y, predicted, len(model.classes))


@dataclass
class Data:
    spsw_train: WindowPool
    spsw_test_x: np.ndarray  # [n, 6, 100] watch windows on the gateway's hop grid
    spsw_test_y: np.ndarray
    utd: UtdSplit
    utd_train: WindowPool
    seconds: float


def load_data(datasets: Path | None) -> Data:
    started = time.perf_counter()
    sequences = load_spswhar(datasets)
    train_seqs, test_seqs = split_sequences(sequences)
    pool = spswhar_pool(train_seqs)
    test = spswhar_windows(test_seqs, "watch").labelled()
    utd = load_utd_split(datasets)
    data = Data(pool, np.ascontiguousarray(np.transpose(test.x, (0, 2, 1))), test.y, utd, utd_pool(utd.train), time.perf_counter() - started)
    print(
        f"sp-sw-har: {len(train_seqs)} training / {len(test_seqs)} test executions; {pool.anchors.size} labelled training windows "
        f"({pool.x.shape[0]} crops, {pool.paired.size} watch/phone pairs), {len(data.spsw_test_y)} test windows; "
        f"UTD-MHAD IMU: {data.utd_train.anchors.size} training windows ({data.seconds:.0f} s)",
        flush=True,
    )
    return data


def run(spec: SpswharRun, command: str) -> list[dict]:
    started = time.perf_counter()
    data = load_data(spec.datasets)
    runs: list[dict] = []

    def record(dataset: str, init: str, fraction: float, seed: int, metrics: dict, seconds: float, samples: int, labelled: int) -> None:
        runs.append({"dataset": dataset, "init": init, "fraction": fraction, "seed": seed, "labelledWindows": labelled, "seconds": seconds,
                     "samples": samples, "samplesPerS": samples / seconds if seconds else 0.0, "metrics": metrics})
        m = metrics["window"]
        print(f"== {dataset} {init} {fraction:.0%} seed {seed}: window macro F1 {m['macroF1']:.3f} acc {m['accuracy']:.3f} "
              f"({seconds:.0f} s; total {time.perf_counter() - started:.0f} s)", flush=True)
        if spec.raw:
            spec.raw.parent.mkdir(parents=True, exist_ok=True)
            spec.raw.write_text(json.dumps({"command": command, "steps": spec.steps, "pretrainSteps": spec.pretrain_steps, "runs": runs}, indent=1), encoding="utf-8")

    utd_stats = data.utd.train
    for seed in spec.seeds:
        pretrained, _, pre_s, pre_n = pretrain(data.spsw_train, spec.pretrain_steps, seed)
        for init, lr in INITS.items():
            for fraction in spec.fractions:
                if init == "none":
                    model, extra_s, extra_n = spsw_model(data.spsw_train, seed), 0.0, 0
                else:
                    model, extra_s, extra_n = copy.deepcopy(pretrained), pre_s, pre_n
                _, s, n, labelled = finetune(model, data.spsw_train, fraction, spec.steps, seed, lr, f"sp-sw-har {init} {fraction:.0%}")
                metrics = {"window": evaluate_windows(model, data.spsw_test_x, data.spsw_test_y)}
                record("sp-sw-har", init, fraction, seed, metrics, s + extra_s, n + extra_n, labelled)
            for fraction in spec.fractions:
                seed_everything(seed)
                model = build_model(utd_classes(), utd_stats, ModelConfig())
                extra_s, extra_n = 0.0, 0
                if init != "none":
                    transfer_watch_encoder(pretrained, model)
                    extra_s, extra_n = pre_s, pre_n
                _, s, n, labelled = finetune(model, data.utd_train, fraction, spec.steps, seed, lr, f"utd-mhad {init} {fraction:.0%}")
                evaluation = evaluate_clips(model, data.utd.test)
                metrics = {"clip": evaluation.metrics["clip"]["imu"], "window": evaluation.metrics["window"]["imu"]}
                record("utd-mhad", init, fraction, seed, metrics, s + extra_s, n + extra_n, labelled)
    total = time.perf_counter() - started
    section = render_section(runs, command, spec.steps, spec.pretrain_steps, total, data)
    write_section(spec.out, section)
    print(f"wrote the sp-sw-har section of {spec.out} ({total:.0f} s = {total / 60:.1f} min)", flush=True)
    return runs


# --------------------------------------------------------------------------- RESULTS.md section


def _group(runs: list[dict]) -> dict[tuple[str, str, float], list[dict]]:
    groups: dict[tuple[str, str, float], list[dict]] = {}
    for r in runs:
        groups.setdefault((r["dataset"], r["init"], r["fraction"]), []).append(r)
    return groups


def _mean(rs: list[dict], level: str, metric: str = "macroF1") -> float:
    return float(np.mean([r["metrics"][level][metric] for r in rs]))


def render_section(runs: list[dict], command: str, steps: int, pretrain_steps: int, total_seconds: float, data: Data | None = None) -> str:
    groups = _group(runs)
    seeds = sorted({r["seed"] for r in runs})
    fractions = sorted({r["fraction"] for r in runs})
    inits = [i for i in INITS if any(r["init"] == i for r in runs)]
    name = INIT_NAMES
    counts = ""
    if data is not None:
        counts = (f" {data.spsw_train.anchors.size} labelled training windows (10 % ≈ {round(0.1 * data.spsw_train.anchors.size)}), "
                  f"{len(data.spsw_test_y)} test windows; {data.spsw_train.paired.size} simultaneous watch/phone training crops for pretraining.")
    lines = [
        "## IMU only: sp-sw-har (second evaluation) and watch↔phone pretraining",
        "",
        f"Generated by `{command}` on {_dt.datetime.now(_dt.UTC):%Y-%m-%d %H:%M} UTC ({total_seconds / 60:.1f} min including data loading, "
        f"{platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads). Do not edit by hand: rerun the command "
        "(it rewrites only this block).",
        "",
        "- Data: sp-sw-har (Matey-Sanz et al. 2023): 23 subjects, 223 Timed-Up-and-Go executions, smartwatch (wrist) and smartphone "
        "(pocket) IMU at ~100 Hz resampled to 50 Hz, per-sample labels seated, standing_up, walking, turning, sitting_down.",
        f"- Split: {SPLIT_DESCRIPTION}; no subject in both (checked by `encoders/tests/test_spswhar_eval.py`).{counts}",
        "- Evaluation windows: the **watch** stream, 2 s (100 samples) ending on the gateway's 0.5 s hop grid, labelled by the sample "
        "at the window centre; scored one by one (window level, no smoothing). UTD-MHAD: IMU only, the main table's split and "
        "clip level (logits averaged over a clip's windows).",
        f"- Model: the default model's IMU encoder (`imu-resnet1d`, 289 k parameters) and class anchors initialised from the class "
        f"descriptions (hashed n-grams), trained by the package's supervised loop (cosine-to-anchor cross-entropy + IMU↔text InfoNCE) "
        f"on the IMU alone: {steps} steps of batch {BATCH_SIZE} (two augmented views of each window), lr {LR} from scratch; "
        f"after pretraining both {FINETUNE_LR} (what `results` uses after pretraining) and {LR}. Label fractions: stratified shares of the hop-grid training windows; "
        "training crops jitter ±0.2 s around them.",
        f"- Pretraining: {pretrain_steps} steps of the package's contrastive loop (symmetric InfoNCE, temperature 0.1, batch {BATCH_SIZE}) "
        "between a watch tower and a phone tower (both `imu-resnet1d`) on simultaneous 2 s windows of the *training* subjects, "
        "labels unused; one pretraining per seed, its time added to each fine-tune. The watch tower then initialises the IMU "
        "encoder for sp-sw-har and for UTD-MHAD (which keeps its own input normalisation). "
        f"Seeds {', '.join(map(str, seeds))}; mean ± std (population) over seeds.",
        "",
        "### sp-sw-har cross-subject, watch only (window level)",
        "",
        "| pretraining | labels | macro F1 | accuracy | train time (s) | samples/s |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for init in inits:
        for f in fractions:
            rs = groups.get(("sp-sw-har", init, f), [])
            if rs:
                lines.append(f"| {name[init]} | {f:.0%} | {mean_std([r['metrics']['window']['macroF1'] for r in rs])} | "
                             f"{mean_std([r['metrics']['window']['accuracy'] for r in rs])} | {np.mean([r['seconds'] for r in rs]):.0f} | "
                             f"{np.mean([r['samplesPerS'] for r in rs]):.0f} |")
    lines += [
        "",
        "### UTD-MHAD cross-subject, IMU only, after sp-sw-har watch↔phone pretraining",
        "",
        "| pretraining | labels | clip macro F1 | clip accuracy | window macro F1 | train time (s) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for init in inits:
        for f in fractions:
            rs = groups.get(("utd-mhad", init, f), [])
            if rs:
                lines.append(f"| {name[init]} | {f:.0%} | {mean_std([r['metrics']['clip']['macroF1'] for r in rs])} | "
                             f"{mean_std([r['metrics']['clip']['accuracy'] for r in rs])} | "
                             f"{mean_std([r['metrics']['window']['macroF1'] for r in rs])} | {np.mean([r['seconds'] for r in rs]):.0f} |")
    lines += ["", "### Pretraining gain (macro F1 points = 100 × difference of means, same steps)", "",
              "| target | labels | fine-tune lr | gain | seeds where pretraining is better |", "| --- | --- | --- | --- | --- |"]
    for dataset, level in (("sp-sw-har", "window"), ("utd-mhad", "clip")):
        for f in fractions:
            for init in inits[1:]:
                base, pre = groups.get((dataset, "none", f), []), groups.get((dataset, init, f), [])
                if base and pre:
                    by_seed = {r["seed"]: r["metrics"][level]["macroF1"] for r in base}
                    wins = sum(1 for r in pre if r["seed"] in by_seed and r["metrics"][level]["macroF1"] > by_seed[r["seed"]])
                    lines.append(f"| {dataset} ({level}) | {f:.0%} | {INITS[init]:g} | {100 * (_mean(pre, level) - _mean(base, level)):+.1f} | {wins} of {len(pre)} |")
    lines += [
        "",
        "For reference, the main table's UTD-MHAD IMU-only figures come from the joint IMU + pose model with 500 steps; the "
        "UTD-MHAD rows here train the IMU encoder alone with fewer steps, so compare them with each other, not with that table.",
    ]
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    """Rewrite only the sp-sw-har block of the results page at ``path``."""
    write_block(path, SPSWHAR_BLOCK, section)
