#!/usr/bin/env python
"""The steps of a recipe that are not shell: check every setting, then write the grid points.

    python scripts/recipe_plan.py check  --recipe sst2_lora --task sst2 --method lora ...   # shell assignments
    python scripts/recipe_plan.py points --recipe sst2_lora ... --data-bin D --out-dir P    # one JSON per point

recipes/common.sh runs both; the user's settings (PROFILE, PRECISION, LR, ...) come from the
environment. ``check`` runs before any work and prints one line naming the variable on bad input.
``python scripts/recipe_plan.py settings`` lists every setting a recipe takes; ``glue-tasks`` the
GLUE tasks whose files are found (GLUE_DIR, data/glue, ../shared/data/glue).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.realpath(__file__))))  # the project, if not installed

from peft_roberta.cli import fail, parser_for  # noqa: E402

PROG = "recipe_plan.py"


def build_parser():
    parser = parser_for(__doc__, prog=PROG)
    parser.add_argument("step", choices=("check", "points", "settings", "glue-tasks"))
    parser.add_argument("--recipe", default="recipe")
    parser.add_argument("--task", default="")
    parser.add_argument("--method", default="")
    parser.add_argument("--model", default="", help="preset or path; empty: the recipe's --train-args")
    parser.add_argument("--model-name", default="")
    parser.add_argument("--train-args", default="", help="architecture options when MODEL is empty")
    parser.add_argument("--inits", default="pretrained random")
    parser.add_argument("--seeds", default="1 2 3")
    parser.add_argument("--grid", default="")
    parser.add_argument("--settings", default="", help="the recipe's own defaults, key=value ...")
    parser.add_argument("--caller-dir", default=os.getcwd(), help="where relative paths the user gave start")
    parser.add_argument("--model-dir", default="", help="points: the resolved model directory")
    parser.add_argument("--data-bin", help="points: the prepared data")
    parser.add_argument("--out-dir", help="points: where the JSON files go")
    return parser


def list_settings():
    from peft_roberta.runs.settings import all_settings

    for setting in all_settings():
        scope = f" (METHOD={setting.method})" if setting.method else ""
        grid = "" if setting.grid else " (not in GRID)"
        print(f"{setting.env:20s} {setting.help}{scope}{grid}")


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.step == "settings":
        list_settings()
        return 0
    if args.step == "glue-tasks":
        from peft_roberta.runs.recipe_steps import glue_tasks_found

        print(" ".join(glue_tasks_found(os.environ, args.caller_dir)))
        return 0
    from fairseq_plugins.checkpoints.safety import CheckpointError
    from peft_roberta.errors import UserError
    from peft_roberta.runs import recipe_steps
    from peft_roberta.runs.recipe import read_request

    try:
        import torch

        request = read_request(args.recipe, args.task, args.method, args.model, args.inits, args.seeds, args.grid,
                               args.settings, args.caller_dir, os.environ, gpu=torch.cuda.is_available())
        if args.step == "check":
            print(recipe_steps.check(request, args.train_args, args.model_name))
        else:
            if not (args.data_bin and args.out_dir):
                return fail(PROG, "points needs --data-bin and --out-dir")
            for path in recipe_steps.write_points(request, args.model_dir, args.train_args, args.model_name,
                                                  args.data_bin, args.out_dir):
                print(path)
    except (UserError, CheckpointError) as err:
        return fail(args.recipe, err)
    return 0


if __name__ == "__main__":
    sys.exit(main())
