#!/usr/bin/env bash
# IMDB with IA3, as report 003 did on DistilBERT (first 50 tokens of a subset): pretrained vs random init, 3 seeds.
#   quick: 2,000 training reviews cut to 128 tokens, 1 epoch, batch 32, lr 5e-3
#   paper: 2,000 reviews, first 50 tokens, 10 epochs, batch 16, lr 3e-3
TASK=imdb
METHOD=${METHOD:-ia3}
source "$(dirname "$0")/common.sh"
run_recipe
