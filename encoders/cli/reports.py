"""Sub-commands that regenerate encoders/RESULTS.md: results, few-shot-eval, spswhar, stream-decide.

Defaults come from the library's run configs (one definition each); these handlers only map
options onto them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from encoders.cli.common import add_common, command_line, fraction
from encoders.data.paths import default_model_dir
from encoders.experiments import ResultsGrid, run_results
from encoders.fewshot import FewshotRun, FewshotSteps, run_fewshot
from encoders.idea_rows import ROWS, IdeaRun, run_idea
from encoders.spswhar_eval import SpswharRun, run
from encoders.virtual_pretrain import VirtualImuRun, run_virtual_imu


def register(sub: argparse._SubParsersAction) -> None:  # argparse has no public type for it
    grid = ResultsGrid(datasets=None)
    p = sub.add_parser("results", help="run the UTD-MHAD experiment grid and regenerate encoders/RESULTS.md")
    add_common(p)
    p.add_argument("--seeds", type=int, nargs="+", default=list(grid.seeds))
    p.add_argument("--fractions", type=fraction, nargs="+", default=list(grid.fractions))
    p.add_argument("--joint-fractions", type=fraction, nargs="+", default=list(grid.joint_fractions), help="label fractions for the joint strategy (default 2 10 100 %%)")
    p.add_argument("--steps", type=int, default=grid.steps, help=f"supervised steps per run (default {grid.steps})")
    p.add_argument("--pretrain-steps", type=int, default=grid.pretrain_steps, help=f"contrastive steps per seed (default {grid.pretrain_steps})")
    p.add_argument("--out", type=Path, default=grid.out)
    p.add_argument("--raw", type=Path, default=grid.raw, help="per-run raw results (JSON)")
    p.add_argument("--recording", type=Path, default=grid.recording, help="recording for the stream-level columns (default recordings/demo)")
    p.set_defaults(func=cmd_results)

    steps = FewshotSteps()
    fewshot = FewshotRun(datasets=None)
    p = sub.add_parser("few-shot-eval", help="issue 11 protocol: 7 UTD-MHAD classes held out as new, enrolled / fine-tuned / from scratch / baseline with k examples; open set; writes RESULTS.md section + JSON")
    add_common(p)
    p.add_argument("--seeds", type=int, nargs="+", default=list(fewshot.seeds))
    p.add_argument("--shots", type=int, nargs="+", default=list(fewshot.shots), help="examples per new class (default 1 3 5)")
    p.add_argument("--base-steps", type=int, default=steps.base, help=f"supervised steps of the base / calibration models (default {steps.base}, as train-default)")
    p.add_argument("--pretrain-steps", type=int, default=steps.pretrain, help=f"contrastive steps before them (default {steps.pretrain})")
    p.add_argument("--finetune-steps", type=int, default=steps.finetune, help=f"fine-tuning steps (default {steps.finetune})")
    p.add_argument("--scratch-steps", type=int, default=steps.scratch, help=f"from-scratch steps (default {steps.scratch})")
    p.add_argument("--raw", type=Path, default=fewshot.raw)
    p.add_argument("--out", default=str(fewshot.results_md), help="RESULTS.md whose few-shot section is replaced ('-' for none)")
    p.add_argument("--cache", type=Path, default=None, help="keep/reuse the base and calibration checkpoints here (e.g. runs/fewshot)")
    p.set_defaults(func=cmd_fewshot)

    spsw = SpswharRun(datasets=None)
    p = sub.add_parser("spswhar", help="IMU-only evaluation on sp-sw-har and watch<->phone pretraining; rewrites its section of RESULTS.md (~10 min)")
    add_common(p)
    p.add_argument("--seeds", type=int, nargs="+", default=list(spsw.seeds))
    p.add_argument("--fractions", type=fraction, nargs="+", default=list(spsw.fractions), help="label fractions (default 10 100 %%)")
    p.add_argument("--steps", type=int, default=spsw.steps, help=f"supervised steps per run (default {spsw.steps})")
    p.add_argument("--pretrain-steps", type=int, default=spsw.pretrain_steps, help=f"watch<->phone contrastive steps per seed (default {spsw.pretrain_steps})")
    p.add_argument("--out", type=Path, default=spsw.out, help="results file whose marked sp-sw-har block is rewritten")
    p.add_argument("--raw", type=Path, default=spsw.raw, help="per-run raw results (JSON)")
    p.set_defaults(func=cmd_spswhar)

    virtual = VirtualImuRun(datasets=None)
    p = sub.add_parser("virtual-imu", help="issue 14: pretraining with virtual IMU simulated from the training skeletons added; rewrites its block of RESULTS.md")
    add_common(p)
    p.add_argument("--seeds", type=int, nargs="+", default=list(virtual.seeds))
    p.add_argument("--fractions", type=fraction, nargs="+", default=list(virtual.fractions), help="label fractions (default 10 100 %%)")
    p.add_argument("--copies", type=int, default=virtual.copies, help=f"augmented virtual copies per training clip (default {virtual.copies})")
    p.add_argument("--out", type=Path, default=virtual.out, help="results file whose marked virtual-IMU block is rewritten")
    p.add_argument("--raw", type=Path, default=virtual.raw, help="per-run raw results (JSON)")
    p.add_argument("--control", action="store_true", help="rerun real-only pretraining for the same seeds (the control; its own raw JSON)")
    p.add_argument("--render-only", action="store_true", help="only rewrite the block from the saved raw JSON files (no training)")
    p.set_defaults(func=cmd_virtual_imu)

    ideas = IdeaRun(datasets=None)
    p = sub.add_parser("idea-rows", help="issue 14: one idea (camera views, pose geometry, sp-sw-har IMU) or the control beside the recipe; rewrites its block of RESULTS.md")
    add_common(p)
    p.add_argument("--idea", choices=list(ROWS), default=ideas.idea, help="what the recipe changes (control: nothing; supervised: the baseline without pretraining)")
    p.add_argument("--seeds", type=int, nargs="+", default=list(ideas.seeds))
    p.add_argument("--fractions", type=fraction, nargs="+", default=list(ideas.fractions), help="label fractions (default 10 100 %%)")
    p.add_argument("--out", type=Path, default=ideas.out, help="results file whose marked idea-rows block is rewritten")
    p.add_argument("--raw", type=Path, default=ideas.raw, help="raw results of every idea (JSON, merged per idea, seed and fraction)")
    p.add_argument("--render-only", action="store_true", help="only rewrite the block from the raw JSON (no training)")
    p.set_defaults(func=cmd_idea_rows)

    p = sub.add_parser(
        "stream-decide",
        help="tune the stream decision rules on training subject 7 and score them on the demo; rewrites its block of RESULTS.md, "
        "encoders/stream-decide.json and test/fixtures/decision-rules.json",
    )
    add_common(p)
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds of the tuning models (trained once, cached in runs/)")
    p.add_argument("--model", type=Path, default=default_model_dir(), help="model scored on the demo (default models/default)")
    p.add_argument("--golden-only", action="store_true", help="only rewrite the golden vectors of the gateway's rule test")
    p.set_defaults(func=cmd_stream_decide)


def cmd_stream_decide(args: argparse.Namespace) -> int:
    from encoders.stream_decide import GOLDEN, run_stream_decide, write_golden

    if args.golden_only:
        write_golden(GOLDEN)
        print(f"wrote {GOLDEN}")
        return 0
    run_stream_decide(args.datasets, args.seeds, args.model, command_line())
    return 0


def cmd_results(args: argparse.Namespace) -> int:
    grid = ResultsGrid(
        datasets=args.datasets, seeds=tuple(args.seeds), fractions=tuple(args.fractions), joint_fractions=tuple(args.joint_fractions),
        steps=args.steps, pretrain_steps=args.pretrain_steps, out=args.out, raw=args.raw, recording=args.recording,
    )
    run_results(grid, command_line())
    return 0


def cmd_fewshot(args: argparse.Namespace) -> int:
    out = None if args.out == "-" else Path(args.out)
    steps = FewshotSteps(base=args.base_steps, pretrain=args.pretrain_steps, finetune=args.finetune_steps, scratch=args.scratch_steps)
    run_fewshot(FewshotRun(datasets=args.datasets, raw=args.raw, results_md=out, seeds=tuple(args.seeds), shots=tuple(args.shots), steps=steps, cache=args.cache), command_line())
    print(f"wrote {args.raw}" + (f" and the few-shot section of {out}" if out else ""))
    return 0


def cmd_spswhar(args: argparse.Namespace) -> int:
    spec = SpswharRun(datasets=args.datasets, seeds=tuple(args.seeds), fractions=tuple(args.fractions), steps=args.steps, pretrain_steps=args.pretrain_steps, out=args.out, raw=args.raw)
    run(spec, command_line())
    return 0


def cmd_virtual_imu(args: argparse.Namespace) -> int:
    spec = VirtualImuRun(datasets=args.datasets, seeds=tuple(args.seeds), fractions=tuple(args.fractions), copies=args.copies, out=args.out, raw=args.raw, control=args.control, render_only=args.render_only)
    run_virtual_imu(spec, command_line())
    return 0


def cmd_idea_rows(args: argparse.Namespace) -> int:
    spec = IdeaRun(datasets=args.datasets, idea=args.idea, seeds=tuple(args.seeds), fractions=tuple(args.fractions), out=args.out, raw=args.raw, render_only=args.render_only)
    run_idea(spec, command_line())
    return 0
