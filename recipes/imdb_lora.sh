#!/usr/bin/env bash
# IMDB (long reviews, cut to the first tokens) with LoRA: pretrained vs random init, 3 seeds.
# The reviews' <br /> tags are replaced by spaces; dev is IMDB's test split (IMDB has no dev split).
#   quick: 2,000 training reviews cut to 128 tokens, 1 epoch, batch 32, lr 1e-3
#   paper: the LoRA paper's setting (r=8, alpha=8, lr 5e-4, batch 16) on report 003's subset: 2,000 reviews,
#          first 50 tokens (60 epochs)
TASK=imdb
METHOD=${METHOD:-lora}
source "$(dirname "$0")/common.sh"
run_recipe
