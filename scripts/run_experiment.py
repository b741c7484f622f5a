#!/usr/bin/env python
"""One run of a recipe: fairseq-train (or the HuggingFace twin), the best checkpoint evaluated, one row.

    python scripts/run_experiment.py --point P/point-0.json --init pretrained --seed 1 --impl fairseq

POINT is a grid point written by ``scripts/recipe_plan.py points`` (recipes/common.sh does it).
The run's identity (every resolved fairseq-train option, the data's and the model's fingerprints,
the implementation) decides its checkpoint folder and whether its row is already in runs.jsonl:
an identical rerun is skipped, any change is a new run. An interrupted run resumes from its own
``checkpoint_last.pt``.
"""
import fcntl
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.realpath(__file__))))  # the project, if not installed

from peft_roberta.cli import fail, parser_for  # noqa: E402

PROG = "run_experiment.py"


def main(argv=None):
    parser = parser_for(__doc__, prog=PROG)
    parser.add_argument("--point", required=True, help="grid point JSON (recipe_plan.py points)")
    parser.add_argument("--init", required=True, choices=["pretrained", "random"])
    parser.add_argument("--seed", required=True, type=int)
    parser.add_argument("--impl", default="fairseq", choices=["fairseq", "hf"],
                        help="fairseq-train with the plugin, or the HuggingFace twin (transformers + peft)")
    parser.add_argument("--keep-last", action="store_true", help="keep checkpoint_last.pt after a finished run")
    args = parser.parse_args(argv)

    from fairseq_plugins.checkpoints.safety import CheckpointError
    from peft_roberta.errors import UserError
    from peft_roberta.runs.experiment import execute, prepare

    try:
        with open(args.point, encoding="utf-8") as f:
            point = json.load(f)
        run = prepare(point, args.init, args.seed, args.impl)
        os.makedirs(os.path.dirname(run.save_dir), exist_ok=True)
        # one process per run folder: a second recipe reaching the same run waits, then finds it done
        # (each node of a multi-node run has its own lock: they run the same run together)
        node = f".node{run.node_rank}" if run.node_rank > 0 else ""
        with open(run.save_dir + node + ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            execute(run, keep_last=args.keep_last)
    except (UserError, CheckpointError, json.JSONDecodeError) as err:
        return fail(PROG, err)
    except OSError as err:  # a full disk, a folder that cannot be written: the machine, not the program
        return fail(PROG, f"{err.strerror or err}: {err.filename or ''}".rstrip(": "), code=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
