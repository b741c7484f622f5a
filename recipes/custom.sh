#!/usr/bin/env bash
# Your own text-classification data (TSV, CSV or JSONL, any number of classes), no code changes:
#
#   TASK=reviews TRAIN=my/train.csv DEV=my/dev.csv TEST=my/test.csv TEXT_COLUMNS=review LABEL_COLUMN=stars \
#       bash recipes/custom.sh
#
#   TASK           a name for the outputs (data-bin/<TASK>.<tokenizer>, results/custom/, the rows' "task")
#   TRAIN, DEV     training and validation files; TEST optional (a labelled test split)
#   TEXT_COLUMNS   the text column, or two comma-separated columns for sentence pairs
#   LABEL_COLUMN   the class column (any labels; their sorted order is written to labels.json)
# TSV and CSV files need a header row; JSONL lines are objects with those fields. The format
# follows the extension (.tsv/.txt, .csv, .jsonl/.json). Plus the options every recipe has: METHOD
# (default lora), MODEL, INITS, SEEDS, PROFILE, BASELINE, GRID (see recipes/common.sh).
TASK_KIND=custom
METHOD=${METHOD:-lora}
RECIPE=${RECIPE:-custom}
source "$(dirname "$0")/common.sh"
run_recipe
