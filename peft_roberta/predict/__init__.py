"""Predictions for new texts with fine-tuned models (``scripts/predict.py``).

    inputs.py   the texts: TSV / CSV / JSONL with the recipes' column options, or standard input
    models.py   a checkpoint, or a base model and PEFT-only files: checked, loaded, swapped in and out
    engine.py   tokens as the data-bin's, length-bucketed batches, class probabilities
    outputs.py  CSV / TSV / JSONL predictions, GLUE's submission file, accuracy and F1 lines
    report.py   ``--report``: predictions per second against the benchmark's inference measure
    run.py      the whole run, as the script asks for it
"""
