#!/usr/bin/env bash
# MRPC with BitFit: pretrained vs random init, 3 seeds (test: Microsoft's labelled test file).
#   quick: 3 epochs, batch 16, lr 3e-3
#   paper: BitFit's code: lr 1e-3, batch 8, 16 epochs
TASK=mrpc
METHOD=${METHOD:-bitfit}
source "$(dirname "$0")/common.sh"
run_recipe
