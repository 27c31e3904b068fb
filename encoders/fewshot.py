"""Few-shot protocol of issue 11 (RESULTS.md "New classes from a few examples").

UTD-MHAD, cross-subject. Seven actions are held out as "new" (:data:`HELD_OUT_ACTIONS`: every
fourth action from 3, so five wrist and two thigh actions). Per seed:

1. base encoders: the default recipe (contrastive pretraining, then supervised) on the other
   20 classes, training subjects 1,3,5,7 only — the new classes' data is never seen, not even
   unlabelled;
2. calibration model: the same recipe on subjects 1,3,5; its scores on subject 7's windows
   give the open-set thresholds (5 % of known windows rejected) — no test subject involved;
3. for k = 1, 3, 5 clips per new class (drawn from the training subjects, nested: the k = 3
   draw contains the k = 1 draw), four ways to learn the new classes:
   (a) enrollment, no retraining (:mod:`encoders.enroll`, what the gateway does),
   (a+) enrollment of all 27 classes (the 20 known ones re-enrolled from their training clips),
   (b) fine-tuning the base model (new anchors start at the examples' mean) on the base
       training data plus the examples (oversampled to a full class's share),
   (c) a from-scratch model on the same data (supervised, same step count as the base),
   (d) window statistics + logistic regression on the same data;
4. test on subjects 2,4,6,8: macro F1 on the 7 new classes (their F1 in the 27-way decision)
   and on all 27, per modality set, per clip (logits averaged over the clip's windows) and
   per window; open set: with the new classes *not* enrolled, the share of their windows /
   clips announced unknown and the share of known-class windows / clips wrongly rejected.
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from encoders.baseline import fit_logistic_regression, imu_features, pose_features
from encoders.enroll import PrototypeSet, enroll
from encoders.evaluate import COMBINATIONS, TestSet
from encoders.finetune import example_embeddings, oversample, with_classes
from encoders.metrics import confusion_matrix
from encoders.models.joint import ClassInfo, JointModel, ModelConfig
from encoders.openset import DEFAULT_TARGET_KNOWN_REJECTION, calibrate_thresholds, combo_cosines, rejection_rates, scores_of
from encoders.pairs import PairedClip, enumerate_windows, stack_windows
from encoders.results_md import FEWSHOT_BLOCK, RESULTS_MD, write_block
from encoders.runtime import blas_library
from encoders.splits import UtdSplit, load_utd_split
from encoders.train import FINETUNE_LR, FINETUNE_STEPS, LR, PRETRAIN_STEPS, RECIPE_STEPS, TrainConfig, train

#: UTD-MHAD action numbers held out as new: 3 wave, 7 basketball_shoot, 11 draw_triangle,
#: 15 tennis_swing, 19 knock (wrist); 23 walk, 27 squat (thigh). A fixed stride, not a pick.
HELD_OUT_ACTIONS = (3, 7, 11, 15, 19, 23, 27)
SHOTS = (1, 3, 5)
RAW_RESULTS = Path(__file__).resolve().parent / "fewshot-raw.json"
CALIBRATION_SUBJECT = 7
METHODS = ("enroll", "enroll-all", "finetune", "scratch", "baseline")
METHOD_NAMES = {
    "enroll": "(a) enrollment, no retraining",
    "enroll-all": "(a+) enrollment, known classes re-enrolled too",
    "finetune": "(b) fine-tuning",
    "scratch": "(c) from scratch",
    "baseline": "(d) window stats + logistic regression",
}


def class_order(classes: Sequence[ClassInfo]) -> tuple[list[int], list[ClassInfo]]:
    """Original label → position (known classes first, new last) and the reordered classes."""
    new = [a - 1 for a in HELD_OUT_ACTIONS]
    order = [i for i in range(len(classes)) if i not in new] + new
    position = [0] * len(classes)
    for pos, orig in enumerate(order):
        position[orig] = pos
    return position, [classes[i] for i in order]


def draw_shots(train_clips: Sequence[PairedClip], new_labels: Sequence[int], k_max: int, seed: int) -> dict[int, list[PairedClip]]:
    """Per new class, a seeded permutation of its training clips; the first k are the k-shot set."""
    rng = np.random.default_rng(1000 + seed)
    out = {}
    for label in new_labels:
        members = sorted((c for c in train_clips if c.label == label), key=lambda c: c.key)
        out[label] = [members[i] for i in rng.permutation(len(members))[:k_max]]
    return out


def _f1_per_class(truth: np.ndarray, pred: np.ndarray, num_classes: int) -> np.ndarray:
    cm = confusion_matrix(truth, pred, num_classes)
    tp = np.diag(cm).astype(np.float64)
    denom = cm.sum(axis=0) + cm.sum(axis=1)
    return np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)


def score_metrics(test: TestSet, combos: dict[str, np.ndarray], num_known: int) -> dict:
    """{level: {combo: {"new": macro F1 over the new classes, "all": over every class}}}."""
    out: dict = {"clip": {}, "window": {}}
    for combo, scores in combos.items():
        c = scores.shape[1]
        for level, truth, s in (("window", test.labels, scores), ("clip", test.clip_labels, test.per_clip(scores))):
            f1 = _f1_per_class(truth, s.argmax(axis=1), c)
            out[level][combo] = {"new": float(f1[num_known:].mean()), "all": float(f1.mean())}
    return out


@dataclass(frozen=True)
class FewshotSteps:
    """Steps of each model the protocol trains (the defaults are train-default's recipe)."""

    #: supervised steps of the base and calibration models
    base: int = RECIPE_STEPS
    #: contrastive steps before them
    pretrain: int = PRETRAIN_STEPS
    #: fine-tuning the base model on the new classes
    finetune: int = FINETUNE_STEPS
    #: the from-scratch comparison
    scratch: int = RECIPE_STEPS


@dataclass(frozen=True)
class FewshotRun:
    """One run of the protocol: which seeds and shots, where the results go."""

    datasets: Path | None
    #: the raw per-seed results (JSON), rewritten after every seed
    raw: Path = RAW_RESULTS
    #: RESULTS.md whose few-shot block is rewritten (None: only the raw JSON)
    results_md: Path | None = RESULTS_MD
    seeds: Sequence[int] = (0, 1, 2)
    shots: Sequence[int] = SHOTS
    steps: FewshotSteps = field(default_factory=FewshotSteps)
    #: where base / calibration models are kept between runs (None: not kept); they depend only
    #: on the seed, the steps and the data, so re-running the cheap parts does not retrain them
    cache: Path | None = None


def _train_config(strategy: str, steps: int, pretrain_steps: int, seed: int, lr: float = LR, finetune_lr: float | None = None) -> TrainConfig:
    return TrainConfig(strategy=strategy, steps=steps, pretrain_steps=pretrain_steps, lr=lr, finetune_lr=finetune_lr, seed=seed, log_every=100)


def _base_model(classes: Sequence[ClassInfo], clips: Sequence[PairedClip], seed: int, steps: FewshotSteps, cache: Path | None, tag: str = "base") -> JointModel:
    from encoders.checkpoint import load_checkpoint, save_checkpoint

    pretrain_steps = steps.pretrain
    cached = cache / f"{tag}-seed{seed}-s{steps.base}-p{pretrain_steps}.pt" if cache else None
    if cached is not None and cached.is_file():
        return load_checkpoint(cached)[0]
    config = _train_config("pretrain-finetune", steps.base, pretrain_steps, seed, finetune_lr=FINETUNE_LR)
    model = train(classes, clips, config, ModelConfig()).model
    if cached is not None:
        save_checkpoint(model, cached, {"train": config.to_dict(), "fewshot": tag})
    return model


def open_set(model: JointModel, test: TestSet, embeddings: dict[str, np.ndarray], thresholds: dict[str, float], num_known: int) -> dict:
    protos = PrototypeSet.from_anchors([c.id for c in model.classes], model.prototypes().detach().numpy())
    cos = combo_cosines(protos, embeddings)
    out: dict = {"window": {}, "clip": {}}
    for combo, c in cos.items():
        out["window"][combo] = rejection_rates(scores_of(c), test.labels < num_known, thresholds[combo])
        out["clip"][combo] = rejection_rates(scores_of(test.per_clip(c)), test.clip_labels < num_known, thresholds[combo])
    return out


def calibrate(classes: Sequence[ClassInfo], base_train: Sequence[PairedClip], seed: int, steps: FewshotSteps, cache: Path | None, target: float) -> tuple[dict[str, float], dict]:
    """Thresholds from a model that never saw subject 7, scored on subject 7's windows."""
    fit = [c for c in base_train if c.subject != CALIBRATION_SUBJECT]
    held = [c for c in base_train if c.subject == CALIBRATION_SUBJECT]
    model = _base_model(classes, fit, seed, steps, cache, tag="calibration")
    val = TestSet(held)
    protos = PrototypeSet.from_anchors([c.id for c in classes], model.prototypes().detach().numpy())
    scores = {combo: scores_of(c) for combo, c in combo_cosines(protos, val.embed(model)).items()}
    thresholds = calibrate_thresholds(scores, target)
    return thresholds, {"windows": len(val.labels), "subject": CALIBRATION_SUBJECT}


def baseline_scores(train_clips: Sequence[PairedClip], test: TestSet, num_classes: int) -> dict[str, np.ndarray]:
    refs = enumerate_windows(train_clips)
    imu, pose, labels = stack_windows(train_clips, refs)
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    weight = 1.0 / np.maximum(counts[labels], 1)  # every class weighs the same, whatever its k
    logits = {}
    for combo, feats, test_feats in (("imu", imu_features(imu), imu_features(test.imu)), ("pose", pose_features(pose), pose_features(test.pose))):
        lr = fit_logistic_regression(feats, labels, num_classes, weight)
        logits[combo] = lr.logits(test_feats)
    logits["imu+pose"] = 0.5 * (logits["imu"] + logits["pose"])
    return logits


def time_enrollment(model: JointModel, examples: Sequence[PairedClip], protos: PrototypeSet, repeats: int = 5) -> dict:
    """Seconds to enroll one class: embed its examples' windows (both modalities) + prototype."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        enroll(protos, "timed_class", example_embeddings(model, examples))
        times.append(time.perf_counter() - started)
    windows = len(enumerate_windows(examples))
    return {"k": len(examples), "windows": windows, "medianSeconds": float(np.median(times)), "maxSeconds": float(np.max(times)), "threads": torch.get_num_threads()}


def run_seed(split: UtdSplit, seed: int, shots: Sequence[int], steps: FewshotSteps, cache: Path | None = None, log: Callable[[str], None] = print) -> dict:
    position, classes = class_order(split.classes)
    relabel = lambda clips: [replace(c, label=position[c.label]) for c in clips]  # noqa: E731
    train_clips, test_clips = relabel(split.train), relabel(split.test)
    num_known = len(classes) - len(HELD_OUT_ACTIONS)
    known, new_labels = classes[:num_known], list(range(num_known, len(classes)))
    base_train = [c for c in train_clips if c.label < num_known]
    test = TestSet(test_clips)
    record: dict = {"seed": seed, "shots": {}, "timing": {}}

    started = time.perf_counter()
    base = _base_model(known, base_train, seed, steps, cache)
    record["timing"]["baseTrainSeconds"] = time.perf_counter() - started
    log(f"seed {seed}: base model on {num_known} classes trained in {record['timing']['baseTrainSeconds']:.0f} s")
    thresholds, calibration = calibrate(known, base_train, seed, steps, cache, DEFAULT_TARGET_KNOWN_REJECTION)
    base_emb = test.embed(base)
    record["openSet"] = {"thresholds": thresholds, "calibration": calibration, **open_set(base, test, base_emb, thresholds, num_known)}
    log(f"seed {seed}: open set {json.dumps(record['openSet']['window'])}")

    base_protos = PrototypeSet.from_anchors([c.id for c in known], base.prototypes().detach().numpy())
    all_known = base_protos
    for label in range(num_known):
        all_known = enroll(all_known, classes[label].id, example_embeddings(base, [c for c in base_train if c.label == label]))
    draws = draw_shots(train_clips, new_labels, max(shots), seed)
    per_class_target = int(round(len(base_train) / num_known))
    for k in shots:
        shot_clips = {label: draws[label][:k] for label in new_labels}
        examples = [c for label in new_labels for c in shot_clips[label]]
        entry: dict = {"examples": [c.key for c in examples]}
        # (a) / (a+) enrollment
        for method, start in (("enroll", base_protos), ("enroll-all", all_known)):
            protos = start
            for label in new_labels:
                protos = enroll(protos, classes[label].id, example_embeddings(base, shot_clips[label]))
            assert protos.class_ids == [c.id for c in classes]
            entry[method] = score_metrics(test, combo_cosines(protos, base_emb), num_known)
        record["timing"][f"enrollOneClassK{k}"] = time_enrollment(base, shot_clips[new_labels[0]], base_protos)
        data = oversample(base_train + examples, per_class_target)
        # (b) fine-tuning from the base model
        init = with_classes(base, classes, {classes[label].id: shot_clips[label] for label in new_labels})
        t0 = time.perf_counter()
        tuned = train(classes, data, _train_config("pretrain-finetune", steps.finetune, 0, seed, lr=FINETUNE_LR), init_model=init, out=None).model
        record["timing"][f"finetuneK{k}Seconds"] = time.perf_counter() - t0
        entry["finetune"] = score_metrics(test, combo_cosines(PrototypeSet.from_anchors([c.id for c in classes], tuned.prototypes().detach().numpy()), test.embed(tuned)), num_known)
        # (c) from scratch on the same data
        t0 = time.perf_counter()
        scratch = train(classes, data, _train_config("supervised", steps.scratch, 0, seed), ModelConfig(), out=None).model
        record["timing"][f"scratchK{k}Seconds"] = time.perf_counter() - t0
        entry["scratch"] = score_metrics(test, combo_cosines(PrototypeSet.from_anchors([c.id for c in classes], scratch.prototypes().detach().numpy()), test.embed(scratch)), num_known)
        # (d) baseline
        entry["baseline"] = score_metrics(test, baseline_scores(base_train + examples, test, len(classes)), num_known)
        record["shots"][str(k)] = entry
        log(f"seed {seed} k={k}: " + "; ".join(f"{m} new clip {entry[m]['clip']['imu']['new']:.3f}/{entry[m]['clip']['pose']['new']:.3f}/{entry[m]['clip']['imu+pose']['new']:.3f}" for m in METHODS))
    return record


# ------------------------------------------------------------------------------------- report


def _ms(values: list[float]) -> str:
    if not values:
        return "–"
    a = np.asarray(values, dtype=np.float64)
    return f"{a.mean():.3f} ± {a.std():.3f}" if len(a) > 1 else f"{a.mean():.3f}"


def _pct(values: list[float]) -> str:
    a = np.asarray(values, dtype=np.float64) * 100
    return f"{a.mean():.1f} % ± {a.std():.1f}" if len(a) > 1 else f"{a.mean():.1f} %"


def render(raw: dict) -> str:
    runs = raw["runs"]
    seeds = [r["seed"] for r in runs]
    shots = sorted({int(k) for r in runs for k in r["shots"]})
    names = [f"{a} {raw['classes'][a - 1]}" for a in HELD_OUT_ACTIONS]
    lines = [
        "## New classes from a few examples (issue 11)",
        "",
        f"Written by `{raw['command']}` on {raw['createdAt']} ({raw['machine']}); raw figures in `encoders/fewshot-raw.json`; protocol in `encoders/fewshot.py`.",
        "",
        f"UTD-MHAD, cross-subject. Held out as **new**: actions {', '.join(names)} (every fourth action from 3: five wrist, two thigh). "
        f"The encoders are trained on the other 20 classes, training subjects 1,3,5,7 only ({raw['steps']['pretrain']} contrastive + {raw['steps']['base']} supervised steps, the default recipe). "
        "The new classes get k = 1, 3, 5 clips each from the training subjects (nested draws, per seed); test on subjects 2,4,6,8, all 27 classes. "
        f"Seeds {', '.join(map(str, seeds))}; mean ± std over seeds. "
        "**new** = mean F1 of the 7 new classes in the 27-way decision; **all** = macro F1 over the 27 classes. "
        "Clip = logits averaged over a clip's windows (2 s, hop 0.5 s); window = each window alone.",
        "",
        "Methods: (a) enrollment, no retraining — per modality, prototype = normalised mean of the examples' window embeddings, known classes keep their anchors "
        "(`encoders/enroll.py`, the gateway's algorithm); (a+) the same with the 20 known classes re-enrolled from their training clips; "
        f"(b) fine-tuning the base model for {raw['steps']['finetune']} steps (lr {FINETUNE_LR}) on the base training data plus the examples, new anchors started at the examples' mean, examples oversampled to a full class's share; "
        f"(c) a model trained from scratch on the same data ({raw['steps']['scratch']} supervised steps); "
        "(d) window statistics (IMU: mean/std/min/max/mean |diff| per channel; pose: the same of normalised keypoints) + L2 logistic regression on the same data, classes balanced.",
        "",
    ]
    for level in ("clip", "window"):
        lines += [f"### {level.capitalize()} level", "", "| method | k | new IMU | new pose | new fused | all IMU | all pose | all fused |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for method in METHODS:
            for k in shots:
                cells = []
                for scope in ("new", "all"):
                    for combo in COMBINATIONS:
                        cells.append(_ms([r["shots"][str(k)][method][level][combo][scope] for r in runs if str(k) in r["shots"]]))
                lines.append(f"| {METHOD_NAMES[method]} | {k} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += [
        "### Open set (new classes not enrolled)",
        "",
        f"Thresholds per modality set = the {DEFAULT_TARGET_KNOWN_REJECTION:.0%} quantile of the top-class cosine of known-class windows of subject {CALIBRATION_SUBJECT}, "
        f"scored by a model of the same recipe trained on subjects 1,3,5 (training subjects only; no test subject). Applied to the base model on the test subjects:",
        "",
        "| modality set | threshold | new-class windows → unknown | known windows rejected | new-class clips → unknown | known clips rejected |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for combo in COMBINATIONS:
        lines.append(
            f"| {combo} | {_ms([r['openSet']['thresholds'][combo] for r in runs])} | "
            f"{_pct([r['openSet']['window'][combo]['unknownRejected'] for r in runs])} | {_pct([r['openSet']['window'][combo]['knownRejected'] for r in runs])} | "
            f"{_pct([r['openSet']['clip'][combo]['unknownRejected'] for r in runs])} | {_pct([r['openSet']['clip'][combo]['knownRejected'] for r in runs])} |"
        )
    lines += ["", "### Enrollment time (one class: embed its k clips' windows, IMU + pose, and average; PyTorch, this machine)", "", "| k | windows | median s | max s | threads |", "| --- | --- | --- | --- | --- |"]
    for k in shots:
        t = [r["timing"][f"enrollOneClassK{k}"] for r in runs]
        lines.append(f"| {k} | {t[0]['windows']} | {np.median([x['medianSeconds'] for x in t]):.3f} | {max(x['maxSeconds'] for x in t):.3f} | {t[0]['threads']} |")
    ft = [r["timing"][f"finetuneK{k}Seconds"] for r in runs for k in shots]
    sc = [r["timing"][f"scratchK{k}Seconds"] for r in runs for k in shots]
    lines += ["", f"For comparison: fine-tuning took {np.median(ft):.0f} s and training from scratch {np.median(sc):.0f} s (median over runs, 2 cores shared with other jobs).", ""]
    return "\n".join(lines)


def write_section(results_md: Path, section: str) -> None:
    """Replace (or append) the few-shot block of RESULTS.md."""
    write_block(results_md, FEWSHOT_BLOCK, section)


def run_fewshot(run: FewshotRun, command: str) -> dict:
    split = load_utd_split(run.datasets)
    raw: dict = {
        "command": command,
        "createdAt": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": f"{platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads, BLAS {blas_library()}",
        "heldOutActions": list(HELD_OUT_ACTIONS),
        "classes": [c.id for c in split.classes],
        "steps": asdict(run.steps),
        "runs": [],
    }
    for seed in run.seeds:
        raw["runs"].append(run_seed(split, seed, run.shots, run.steps, run.cache, log=lambda m: print(m, flush=True)))
        run.raw.parent.mkdir(parents=True, exist_ok=True)
        run.raw.write_text(json.dumps(raw, indent=1) + "\n", encoding="utf-8")
        if run.results_md is not None:
            write_section(run.results_md, render(raw))
    return raw
