#!/usr/bin/env python
"""Convert a HuggingFace BERT / RoBERTa / DistilBERT checkpoint directory into a fairseq RoBERTa model directory.

    python scripts/convert_hf_to_fairseq.py HF_DIR OUT_DIR

OUT_DIR gets model.pt (fairseq's roberta; restorable into the plugin's roberta_peft), dict.txt, the
tokenizer files and model_info.json (the fairseq-train architecture options, the tokenizer, and
the source with its sha256 checksums).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.realpath(__file__))))  # the project, if not installed

from peft_roberta.cli import fail, parser_for  # noqa: E402

PROG = "convert_hf_to_fairseq.py"


def main(argv=None):
    parser = parser_for(__doc__, prog=PROG)
    parser.add_argument("hf_dir", help="HuggingFace model directory (config.json, weights, vocabulary files)")
    parser.add_argument("out_dir", help="fairseq model directory to write")
    parser.add_argument("--source-name", help="how model_info.json names the source (default: HF_DIR's path)")
    args = parser.parse_args(argv)

    from fairseq_plugins.checkpoints.safety import CheckpointError
    from peft_roberta.errors import UserError
    from peft_roberta.models.conversion import convert

    try:
        convert(args.hf_dir, args.out_dir, source_name=args.source_name)
    except (CheckpointError, UserError) as err:
        return fail(PROG, err)
    print(f"wrote {args.out_dir}: model.pt, dict.txt, model_info.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
