#!/usr/bin/env bash
# SST-2 with Houlsby bottleneck adapters (dimension 64, LayerNorms trained): pretrained vs random init, 3 seeds.
#   quick: 32,000 training sentences, 1 epoch, batch 32, lr 1e-3
#   paper: report 004's adapter setting: lr 9e-5, batch 16, 70 epochs, 70 warmup updates, dropout 0.3
TASK=sst2
METHOD=${METHOD:-adapter}
source "$(dirname "$0")/common.sh"
run_recipe
