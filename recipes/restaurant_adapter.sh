#!/usr/bin/env bash
# SemEval-14 restaurant aspect sentiment with Houlsby adapters, 5 seeds as report 004.
#   quick: 3 epochs, batch 16, lr 1e-3
#   paper: report 004: lr 9e-5, batch 16, 70 epochs, 70 warmup updates, dropout 0.3, weight decay 0.01
TASK=restaurant
METHOD=${METHOD:-adapter}
SEEDS=${SEEDS:-1 2 3 4 5}
source "$(dirname "$0")/common.sh"
run_recipe
