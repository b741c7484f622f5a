#!/usr/bin/env python
"""Convert a HuggingFace BERT / RoBERTa / DistilBERT checkpoint directory into a fairseq RoBERTa model directory.

    python scripts/convert_hf_to_fairseq.py HF_DIR OUT_DIR

OUT_DIR gets model.pt (fairseq's roberta; restorable into the plugin's roberta_peft), dict.txt, the
tokenizer files and model_info.json (the fairseq-train architecture options, the tokenizer, and
the source with its sha256 checksums).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("hf_dir", help="HuggingFace model directory (config.json, weights, vocabulary files)")
    parser.add_argument("out_dir", help="fairseq model directory to write")
    parser.add_argument("--source-name", help="how model_info.json names the source (default: HF_DIR's path)")
    args = parser.parse_args(argv)

    from fairseq_plugins.checkpoint_safety import CheckpointError
    from fairseq_plugins.hf_conversion import convert

    try:
        convert(args.hf_dir, args.out_dir, source_name=args.source_name)
    except (CheckpointError, KeyError) as err:
        print(f"convert_hf_to_fairseq.py: error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {args.out_dir}: model.pt, dict.txt, model_info.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
