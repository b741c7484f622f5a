#!/usr/bin/env bash
# SST-2 with LoRA: the pretrained model (MiniLM by default) against its random-init twin, 3 seeds.
#   quick: 32,000 training sentences, 1 epoch, batch 32, lr 2e-3, r=8, alpha=16 on q and v (~14 min on 2 CPU cores with bf16, ~17 min in fp32)
#   paper: the LoRA paper's roberta-base setting: r=8, alpha=8 on q and v, lr 5e-4, batch 16, 60 epochs, 6% warmup
# Options (METHOD, MODEL, INITS, SEEDS, PROFILE, PRECISION, BASELINE, GRID, DATA_DIR): see recipes/common.sh.
TASK=sst2
METHOD=${METHOD:-lora}
source "$(dirname "$0")/common.sh"
run_recipe
