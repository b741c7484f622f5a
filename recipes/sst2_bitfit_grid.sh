#!/usr/bin/env bash
# Report 002's search on SST-2: full fine-tuning vs BitFit (every bias, and only the biases of the
# classification head: 3,074 trained parameters on BERT-tiny), every batch size x learning rate,
# 4 epochs; the best configuration is chosen on dev, its test accuracy is reported.
# Two (model, init) pairs in one results file: BERT-tiny's shape from random init (MODEL=bert-tiny,
# MiniLM's vocabulary; no BERT-tiny weights are available here) and the pretrained default MiniLM.
#   paper: batch 8,16,32,64,128 x lr 3e-4,1e-4,5e-5,3e-5, 4 epochs, all training sentences, seeds 1 2 3
#   quick: batch 16,64 x lr 3e-4,5e-5, 2 epochs, 2,000 training sentences, seeds 1 2 (~17 min on 2 CPU cores in fp32)
# Test: SST-2 has no labelled test, so HELD_OUT (default 872) whole training sentences are set aside
# and never trained on: neither they nor the phrases that occur only inside them (SST-2's training
# file also lists the phrases of its sentences). Dev stays GLUE's dev.
# Options: METHOD (one of full, bitfit; default both), MODEL and INITS (one pair; default both pairs),
# GRID, SEEDS, PROFILE, NPROCS, ... (recipes/common.sh). BitFit's head: HEAD=bias unless set.
TASK=sst2
source "$(dirname "$0")/common.sh"

set_default_profile
HELD_OUT=${HELD_OUT:-872}
[[ $HELD_OUT =~ ^[1-9][0-9]*$ ]] || die "HELD_OUT=$HELD_OUT: not a positive integer"
if [[ $PROFILE == quick ]]; then
    GRID=${GRID-"batch=16,64 lr=3e-4,5e-5"} SEEDS=${SEEDS:-1 2}
else
    GRID=${GRID-"batch=8,16,32,64,128 lr=3e-4,1e-4,5e-5,3e-5"}
fi

# report 002: the same schedule for both methods, 4 epochs, the best epoch on dev (validation once per
# epoch); BitFit trains the head's biases only. The profiles' per-method settings do not apply here.
COMMON_SETTINGS="epochs=4 max_updates= warmup=0.06 warmup_updates= weight_decay=0.01 dropout=0.1 validations=1"
if [[ $PROFILE == quick ]]; then COMMON_SETTINGS+=" epochs=2 max_train=2000"; else COMMON_SETTINGS+=" max_train="; fi

recipe_data() {  # the held-out test split, written once into the work dir
    local split=$WORK_DIR/data-bin/sst2-heldout$HELD_OUT.split
    "$PYTHON" scripts/sst2_heldout.py "$TRAIN_PATH" "$split" --count "$HELD_OUT" || exit 2
    TRAIN_PATH=$split/train.tsv TEST_PATH=$split/test.tsv
    TASK_ID=${TASK_ID/sst2/sst2-heldout$HELD_OUT}
}

if [[ -n ${MODEL:-} ]]; then
    MODELS=("$MODEL") MODEL_INITS=("${INITS:-pretrained random}")
else
    MODELS=(bert-tiny minilm) MODEL_INITS=(random pretrained)
fi
METHODS=${METHOD:-full bitfit}
for i in "${!MODELS[@]}"; do
    for METHOD in $METHODS; do
        SETTINGS=$COMMON_SETTINGS
        if [[ $METHOD == bitfit ]]; then SETTINGS+=" bitfit_biases=all head=bias"; fi
        MODEL=${MODELS[$i]} INITS=${MODEL_INITS[$i]} MODEL_NAME=
        run_setting
    done
done
aggregate_results
