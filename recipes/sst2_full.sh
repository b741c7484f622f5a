#!/usr/bin/env bash
# SST-2 with full fine-tuning: pretrained vs random init, 3 seeds.
#   quick: 32,000 training sentences, 1 epoch, batch 32, lr 5e-5
#   paper: fairseq's RoBERTa GLUE recipe: lr 1e-5, batch 32, 20,935 updates, 1,256 warmup, weight decay 0.1
TASK=sst2
METHOD=${METHOD:-full}
source "$(dirname "$0")/common.sh"
run_recipe
