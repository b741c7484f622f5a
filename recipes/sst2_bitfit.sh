#!/usr/bin/env bash
# SST-2 with BitFit (every bias and the classification head): pretrained vs random init, 3 seeds.
#   quick: 32,000 training sentences, 1 epoch, batch 32, lr 3e-3
#   paper: BitFit's code: lr 1e-3, batch 8, 16 epochs
TASK=sst2
METHOD=${METHOD:-bitfit}
source "$(dirname "$0")/common.sh"
run_recipe
