"""The HuggingFace (transformers + peft) twin of a fairseq run: ``build_twin``, ``train_twin``, ``lockstep``.

What the twin shares with its fairseq run (the lockstep check, ``scripts/lockstep_check.py``, measures
it): the initial weights (the fairseq run's at step 0: pretrained or random encoder, new head, LoRA's
A, IA3's vectors), the tokens (fairseq's own ids of every split), the trained parameters, the optimizer
arithmetic (fairseq's Adam), the learning rate update by update, the loss (cross-entropy averaged over
the batch's sentences), the validation points and the choice of the best checkpoint (ties go to the
later one, as in fairseq). What differs, by design, is listed here and nowhere called "agrees".
"""
DIFFERENCES = (
    "batches: HF's Trainer draws random batches (its RandomSampler, seeded by the run's seed) and pads each "
    "to its longest sentence; fairseq's recipes batch sentences of similar length "
    "(sentence_prediction_bucketed) in another order",
    "dropout masks: drawn by other code from other random streams (the same probabilities)",
    "attention and matrix products: HF's BERT/RoBERTa modules against the plugin's encoder (batch-first, "
    "fused q/k/v, the last layer on position 0 only): the same function, rounded differently (about 1e-6)",
    "token types: BERT's token-type rows are zero and frozen in the twin (fairseq's RoBERTa has none; a "
    "conversion folds BERT's row 0 into the positions)",
    "DistilBERT only: its head applies ReLU where fairseq's applies tanh",
    "checkpoint choice on the dev loss (fairseq's default --best-checkpoint-metric; the recipes choose on "
    "the task's metric): HF compares its mean natural-log loss unrounded, fairseq its base-2 loss rounded "
    "to 3 decimals, so near-ties may go different ways",
)
