"""Flags and helpers every task's command shares (see ../shared/DESIGN.md: common training flags)."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from rnnkit.layers import RECURRENT_LAYERS, REGULARISERS
from rnnkit.training.config import OPTIMIZERS, SCHEDULES


def add_training_flags(parser: argparse.ArgumentParser) -> None:
    """The common flags (../DESIGN.md); None means "the preset's value"."""
    group = parser.add_argument_group("training")
    group.add_argument("--out", type=Path, help="run directory to create (default: runs/TASK)")
    group.add_argument("--overwrite", action="store_true", help="replace the run directory --out if it holds an earlier run")
    group.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue this run where it stopped")
    group.add_argument("--preset", help="named configuration (see the task's --help)")
    group.add_argument("--seed", type=int)
    group.add_argument("--epochs", type=int)
    group.add_argument("--max-steps", type=int)
    group.add_argument("--max-minutes", type=float, metavar="M",
                       help="stop after M minutes of training, validation included; a cosine schedule decays over "
                       "the steps or the minutes, whichever run out first")
    group.add_argument("--batch-size", type=int)
    group.add_argument("--lr", type=float)
    group.add_argument("--optimizer", choices=OPTIMIZERS)
    group.add_argument("--weight-decay", type=float, help="L2 penalty (decoupled with adamw)")
    group.add_argument("--schedule", choices=SCHEDULES, help="learning-rate schedule (cosine: to 0 over the run)")
    group.add_argument("--warmup-steps", type=int, help="linear warm-up before the schedule")
    group.add_argument("--early-stopping", type=int, metavar="N", help="stop after N evaluations without a better validation figure")
    group.add_argument("--clip", type=float, help="clip gradients to this global norm")
    group.add_argument("--cell", choices=sorted(RECURRENT_LAYERS))
    group.add_argument("--hidden-size", type=int)
    group.add_argument("--num-layers", type=int)
    group.add_argument("--dropout", type=float)
    regularise = parser.add_argument_group("recurrent regularisers (any cell; saved in run.json)")
    regularise.add_argument("--variational-dropout", type=float, metavar="P",
                            help="dropout between recurrent layers with one mask per sequence, in place of --dropout there")
    regularise.add_argument("--recurrent-dropout", type=float, metavar="P",
                            help="dropout of the hidden state the recurrent weights see, one mask per sequence")
    regularise.add_argument("--zoneout", type=float, nargs="+", metavar="P",
                            help="each unit keeps its previous value with probability P; an LSTM takes P_H P_C")
    regularise.add_argument("--weight-drop", type=float, metavar="P",
                            help="DropConnect on the recurrent weights, one mask per batch (keeps the fused kernel)")
    group.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N")
    group.add_argument("--eval-every", type=int, help="validate every N steps (default: the preset's, or each epoch)")
    group.add_argument("--checkpoint-every", type=int, metavar="N", help="also save the last checkpoint every N steps")
    group.add_argument("--checkpoint-minutes", type=float, metavar="M",
                       help="save the last checkpoint whenever M minutes have passed since it was saved (default 10; 0: never by time)")
    group.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_model_flags(parser: argparse.ArgumentParser, models: dict[str, str]) -> None:
    """--model (the task's mapping of model names, each with its help) and the transformer's sizes."""
    parser.add_argument("--model", choices=list(models), help="; ".join(f"{name}: {text}" for name, text in models.items()))
    parser.add_argument("--params", type=int, metavar="N", help="size the model's width (--hidden-size, or --d-model for a "
                        "transformer) to about N parameters, other settings kept")
    group = parser.add_argument_group("transformer (--model transformer; --num-layers and --dropout apply too)")
    group.add_argument("--d-model", type=int, help="width of every block (default: the task's)")
    group.add_argument("--num-heads", type=int, help="attention heads; must divide --d-model")
    group.add_argument("--ff-size", type=int, help="feed-forward width (default 4 x --d-model)")
    group.add_argument("--positions", choices=["learned", "sinusoidal"], help="position encodings")


def model_choice_overrides(args) -> dict:
    """The model config fields --model, --params and the transformer flags set."""
    return model_overrides(args, {"model": "model", "params": "params", "d_model": "d_model", "num_heads": "num_heads", "ff_size": "ff_size",
                                  "positions": "positions"})


def training_overrides(args) -> dict:
    """TrainConfig fields the flags set."""
    names = {"seed": "seed", "epochs": "epochs", "max_steps": "max_steps", "lr": "lr", "optimizer": "optimizer",
             "clip": "clip_norm", "eval_every": "eval_every", "weight_decay": "weight_decay", "schedule": "schedule",
             "warmup_steps": "warmup_steps", "early_stopping": "early_stopping", "checkpoint_every": "checkpoint_every",
             "max_minutes": "max_minutes"}
    values = {field: getattr(args, flag) for flag, field in names.items() if getattr(args, flag) is not None}
    if args.checkpoint_minutes is not None:
        values["checkpoint_minutes"] = args.checkpoint_minutes or None
    values["device"] = args.device
    if args.no_progress:
        values["progress"] = False
    return values


def clear_run_dir(path: Path) -> None:
    """Delete an earlier run at `path` (--overwrite); never a directory that is not an rnnkit run."""
    if not path.exists():
        return
    if not (path / "run.json").is_file() and any(path.iterdir()):
        raise ValueError(f"--overwrite refuses to delete {path}: it is not an rnnkit run directory (no run.json)")
    shutil.rmtree(path)


def model_overrides(args, names: dict[str, str]) -> dict:
    return {field: getattr(args, flag) for flag, field in names.items() if getattr(args, flag, None) is not None}


def regularisers(args) -> dict:
    """The recurrent regularisers the flags set, as a model config's `regularisers` dict."""
    values = {name: getattr(args, name) for name in REGULARISERS if getattr(args, name, None) is not None}
    if "zoneout" in values:
        zoneout = values["zoneout"]
        if len(zoneout) > 2:
            raise ValueError(f"--zoneout takes one probability, or two (h and c) for an LSTM; got {len(zoneout)}")
        values["zoneout"] = zoneout[0] if len(zoneout) == 1 else list(zoneout)
    return values


def regulariser_overrides(args) -> dict:
    """{"regularisers": ...} for a model config when any regulariser flag is given, else {}."""
    values = regularisers(args)
    return {"regularisers": values} if values else {}


def report_stop(summary: dict, best_key: str, label: str, task: str, out: Path) -> bool:
    """Print the steps, why training stopped and the best validation figure; for an interrupted run
    also how to resume it. True when the run was interrupted."""
    best = summary[best_key]
    print(f"{summary['steps']} steps ({summary['stop_reason']}); {label} {'none yet' if best is None else f'{best:.4f}'}")
    if summary["stop_reason"] != "interrupted":
        return False
    print(f"resume with: rnnkit {task} train --resume {out}")
    return True


def saved_run(out: Path, hint: str) -> None:
    """The end of a train command: the run's HTML report, then where the run is and what to try next."""
    written = write_run_report([out], Path(out) / "report.html")
    print(f"run saved in {out}" + ("" if written is None else f" (report: {written})") + f"; try: {hint}")


def write_run_report(paths: list[Path], output: Path) -> Path | None:
    """Write the HTML report; a failure is a warning, since the run itself is already saved."""
    from rnnkit.tasks import report  # the report reads every task's runs

    try:
        return report.write_report(paths, output)
    except Exception as error:  # noqa: BLE001 - the trained run must not be reported as failed
        print(f"rnnkit: warning: could not write the report {output} ({type(error).__name__}: {error}); "
              f"try: rnnkit report {' '.join(map(str, paths))} --debug", file=sys.stderr)
        return None
