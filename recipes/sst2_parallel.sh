#!/usr/bin/env bash
# SST-2 with He et al.'s scaled parallel adapter (width 64 beside each FFN, scaling 4): pretrained vs random init,
# 3 seeds.
#   quick: 32,000 training sentences, 1 epoch, batch 32, lr 1e-3
#   paper: no published RoBERTa setting here: lr 1e-3, batch 32, 10 epochs
# Options (METHOD, MODEL, INITS, SEEDS, PROFILE, PRECISION, BASELINE, GRID, DATA_DIR): see recipes/common.sh.
TASK=sst2
METHOD=${METHOD:-parallel}
source "$(dirname "$0")/common.sh"
run_recipe
