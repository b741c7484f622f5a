#!/usr/bin/env bash
# SST-2 with the MAM adapter (He et al. 2022): 30 prefix vectors in every attention + a parallel adapter of
# width 512, scaling 4, beside every FFN: pretrained vs random init, 3 seeds.
#   quick: 32,000 training sentences, 1 epoch, batch 32, lr 2e-3
#   paper: no published RoBERTa setting here: lr 2e-3, batch 32, 10 epochs
# Options (METHOD, MODEL, INITS, SEEDS, PROFILE, PRECISION, BASELINE, GRID, DATA_DIR): see recipes/common.sh.
TASK=sst2
METHOD=${METHOD:-mam}
source "$(dirname "$0")/common.sh"
run_recipe
