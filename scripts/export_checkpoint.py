#!/usr/bin/env python
"""Export a fine-tuned checkpoint as a self-contained plain fairseq RoBERTa directory.

    python scripts/export_checkpoint.py checkpoints/run/checkpoint_best.pt exported/
    python scripts/export_checkpoint.py base/model.pt exported/ --peft-file checkpoints/run/checkpoint_best.peft.pt

LoRA (and IA3) are merged into the base weights; the result is fairseq's own ``roberta`` model with
its dictionaries and tokenizer, which ``RobertaModel.from_pretrained(OUT_DIR, checkpoint_file=
"model.pt")`` loads with no other argument, without this plugin and offline. The tokenizer is the
one the training data was prepared with (the data-bin's tokenizer/); a WordPiece export records its
vocabulary's absolute path (export again after moving it).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.realpath(__file__))))  # the project, if not installed

from peft_roberta.cli import fail, parser_for  # noqa: E402

PROG = "export_checkpoint.py"


def main(argv=None):
    parser = parser_for(__doc__, prog=PROG)
    parser.add_argument("checkpoint", help="fine-tuned checkpoint, or the base checkpoint with --peft-file")
    parser.add_argument("out_dir", help="directory to write (created; an earlier export there is replaced)")
    parser.add_argument("--peft-file", help="PEFT-only file (checkpoint_best.peft.pt) to apply to CHECKPOINT")
    parser.add_argument("--data", help="binarized data directory, if it moved since training")
    parser.add_argument("--tokenizer", metavar="MODEL_DIR",
                        help="take the tokenizer from this model directory (data prepared before data-bins kept theirs)")
    args = parser.parse_args(argv)

    from fairseq_plugins.checkpoints.safety import CheckpointError
    from peft_roberta.errors import UserError
    from peft_roberta.models.export import export_directory

    try:
        method, with_tokenizer = export_directory(args.checkpoint, args.out_dir, args.peft_file, args.data,
                                                  args.tokenizer)
    except (CheckpointError, UserError) as err:
        return fail(PROG, err)
    if with_tokenizer:
        print(f"wrote {args.out_dir}: plain fairseq RoBERTa (peft={method} merged), dictionaries and tokenizer")
    else:
        print(f"wrote {args.out_dir}: plain fairseq RoBERTa (peft={method} merged) and dictionaries; the data was "
              "binarized elsewhere and records no tokenizer (give --tokenizer MODEL_DIR to include one)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
