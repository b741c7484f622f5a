#!/usr/bin/env python
"""Export a fine-tuned PEFT model as a plain fairseq RoBERTa model directory.

LoRA (and IA3) are merged into the base weights; the result is fairseq's own ``roberta`` model,
which ``RobertaModel.from_pretrained(OUT_DIR, checkpoint_file="model.pt")`` loads without this
plugin. The task's dictionaries are copied beside it, so the directory is self-contained.

    python scripts/export_checkpoint.py checkpoints/run/checkpoint_best.pt exported/
    python scripts/export_checkpoint.py base/model.pt exported/ --peft-file checkpoints/run/checkpoint_best.peft.pt
"""
import argparse
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="fine-tuned checkpoint, or the base checkpoint with --peft-file")
    parser.add_argument("out_dir", help="directory to write model.pt and the dictionaries into")
    parser.add_argument("--peft-file", help="PEFT-only file (checkpoint_best.peft.pt) to apply to CHECKPOINT")
    parser.add_argument("--data", help="binarized data directory, if it moved since training")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from fairseq_plugins.checkpoint_safety import CheckpointError
    from fairseq_plugins.hub import from_pretrained
    from fairseq_plugins.peft_checkpoint import export_plain

    try:
        if args.peft_file:
            hub = from_pretrained(peft_file=args.peft_file, base_checkpoint=args.checkpoint, data=args.data)
        else:
            hub = from_pretrained(checkpoint=args.checkpoint, data=args.data)
        os.makedirs(args.out_dir, exist_ok=True)
        export_plain(hub.model, hub.cfg, os.path.join(args.out_dir, "model.pt"))
    except (CheckpointError, FileNotFoundError, ValueError) as err:
        print(f"export_checkpoint.py: error: {err}", file=sys.stderr)
        return 2
    data_dir = hub.cfg.task.data
    for sub in ("input0", "input1", "label"):
        source = os.path.join(data_dir, sub, "dict.txt")
        if os.path.isfile(source):
            os.makedirs(os.path.join(args.out_dir, sub), exist_ok=True)
            shutil.copyfile(source, os.path.join(args.out_dir, sub, "dict.txt"))
    print(f"wrote {os.path.join(args.out_dir, 'model.pt')} (plain fairseq RoBERTa, peft={hub.model.peft.name} merged)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
