#!/usr/bin/env bash
# SST-2, every method side by side: the same 8,000 training sentences, each method at its quick-profile
# learning rate (peft_roberta/runs/settings.py), pretrained MiniLM, fairseq + plugin, seeds 1 2 3; one
# table with trained parameters and dev accuracy per method. About 45 minutes on 2 CPU cores (bf16).
# Options: METHODS (default every method), SEEDS, INITS, PROFILE, PRECISION, ... (recipes/common.sh).
source "$(dirname "$0")/common.sh"
SEEDS=${SEEDS:-1 2 3}
MODEL=${MODEL:-minilm}
for METHOD in ${METHODS:-full lora dora rslora adapter parallel ia3 bitfit prefix mam}; do
    TASK=sst2 INITS=${INITS:-pretrained} SETTINGS="max_train=8000" run_setting
done
aggregate_results
