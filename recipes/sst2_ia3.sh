#!/usr/bin/env bash
# SST-2 with IA3 (keys, values and the feed-forward activation rescaled): pretrained vs random init, 3 seeds.
#   quick: 32,000 training sentences, 1 epoch, batch 32, lr 5e-3
#   paper: lr 3e-3, batch 16, 10 epochs
TASK=sst2
METHOD=${METHOD:-ia3}
source "$(dirname "$0")/common.sh"
run_recipe
