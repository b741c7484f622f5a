#!/usr/bin/env python
"""The HuggingFace twin of one fairseq run: transformers' Trainer + peft, from the run's own weights and tokens.

    python scripts/hf_baseline.py --save-dir checkpoints/sst2_lora/hf.pretrained.seed1 --model-dir cache/models/minilm \\
        -- data-bin/sst2-32000.wordpiece-07eced37 --user-dir fairseq_plugins --arch roberta_peft_minilm --peft lora ...

After ``--``: the fairseq-train command line of the run (without --save-dir); recipes run this with
BASELINE=hf through scripts/run_experiment.py. The twin starts from the fairseq run's weights at step
0, reads fairseq's own token ids, trains with fairseq's Adam and learning rate schedule, and writes
{"dev", "test", "trainable_params", "total_params", "updates", "best_updates", "hf"} to
--result-json (metrics of the best checkpoint on dev, in percent). What differs by design is listed
in peft_roberta/hf/__init__.py. Methods: lora and ia3 through peft, bitfit and none by requires_grad;
adapter has no peft twin (exit 2).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.realpath(__file__))))  # the project, if not installed

from peft_roberta.cli import fail, parser_for  # noqa: E402

PROG = "hf_baseline.py"


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    own, fairseq_argv = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    parser = parser_for(__doc__, prog=PROG, usage="%(prog)s --save-dir DIR [options] -- FAIRSEQ_TRAIN_ARGV")
    parser.add_argument("--save-dir", required=True, help="the Trainer's folder (the best checkpoint stays)")
    parser.add_argument("--result-json", help="where to write the results (default SAVE_DIR/hf_result.json)")
    parser.add_argument("--model-dir", help="the model directory of the run (its family and vocabulary)")
    args = parser.parse_args(own)
    if not fairseq_argv:
        return fail(PROG, "give the fairseq-train command line of the run after --")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from fairseq_plugins.checkpoints.safety import CheckpointError
    from peft_roberta.errors import UserError
    from peft_roberta.hf.train import build_twin, train_twin

    try:
        twin = build_twin(fairseq_argv, args.model_dir)
        print(f"hf_baseline: {twin.family} twin, method {twin.args.peft}: logits at step 0 within "
              f"{twin.start_logit_difference:.2e} of fairseq's; {len(twin.datasets['train'])} train, "
              f"{len(twin.datasets['valid'])} valid examples", flush=True)
        train_twin(twin, args.save_dir, args.result_json or os.path.join(args.save_dir, "hf_result.json"))
    except (UserError, CheckpointError) as err:
        return fail(PROG, err)
    return 0


if __name__ == "__main__":
    sys.exit(main())
