#!/usr/bin/env bash
# Report 000's rank sweep on SST-2: LoRA r = 1, 4, 16 on the query projection only, the classifier
# trained over a frozen pooler (HEAD=out_proj), alpha 8 for every rank (peft's default), the
# pretrained model (MiniLM by default), 3 seeds; the table shows each rank and the best one on dev.
#   quick: 32,000 training sentences, 1 epoch, batch 32, lr 2e-3 (~25 min on 2 CPU cores in fp32)
#   paper: report 000: lr 1e-3, batch 16, 5 epochs, weight decay 0.01, linear decay without warmup
# Options (MODEL, INITS, SEEDS, PROFILE, GRID, NPROCS, ...): see recipes/common.sh.
TASK=sst2
METHOD=${METHOD:-lora}
INITS=${INITS:-pretrained}
GRID=${GRID-"lora_r=1,4,16"}
source "$(dirname "$0")/common.sh"
set_default_profile
SETTINGS="lora_targets=q_proj lora_alpha=8 head=out_proj"
[[ $PROFILE == paper ]] && SETTINGS+=" lr=1e-3 batch=16 epochs=5 weight_decay=0.01 warmup=0"
run_recipe
