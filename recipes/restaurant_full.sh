#!/usr/bin/env bash
# SemEval-14 restaurant aspect sentiment (3 classes; input: aspect and sentence as a pair), full
# fine-tuning: pretrained vs random init, 3 seeds. Reports accuracy and macro-F1.
#   quick: 3 epochs, batch 16, lr 5e-5
#   paper: report 004: lr 9e-5, batch 16, 70 epochs, 70 warmup updates, dropout 0.3, weight decay 0.01
TASK=restaurant
METHOD=${METHOD:-full}
source "$(dirname "$0")/common.sh"
run_recipe
