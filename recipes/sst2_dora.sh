#!/usr/bin/env bash
# SST-2 with DoRA (LoRA on q and v, r=8, plus a trained magnitude per output row): pretrained vs random init, 3 seeds.
#   quick: 32,000 training sentences, 1 epoch, batch 32, lr 2e-3, r=8, alpha=16 on q and v
#   paper: the LoRA paper's roberta-base setting: r=8, alpha=8 on q and v, lr 5e-4, batch 16, 60 epochs, 6% warmup
# METHOD=rslora runs rank-stabilised LoRA (scale alpha / sqrt(r)) with the same recipe.
# Options (METHOD, MODEL, INITS, SEEDS, PROFILE, PRECISION, BASELINE, GRID, DATA_DIR): see recipes/common.sh.
TASK=sst2
METHOD=${METHOD:-dora}
source "$(dirname "$0")/common.sh"
run_recipe
