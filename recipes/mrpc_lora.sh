#!/usr/bin/env bash
# MRPC (sentence pairs; test: Microsoft's labelled test file) with LoRA: pretrained vs random init, 3 seeds.
#   quick: 3 epochs, batch 16, lr 1e-3, r=8, alpha=16 on q and v
#   paper: the LoRA paper's roberta-base setting: r=8, alpha=8, lr 4e-4, batch 16, 30 epochs, 6% warmup
TASK=mrpc
METHOD=${METHOD:-lora}
source "$(dirname "$0")/common.sh"
run_recipe
