#!/usr/bin/env bash
# fairseq + the plugin against its HuggingFace twin (transformers + peft): the same weights, data and
# seeds, every run twice (BASELINE=hf), one table with Welch's p per pair.
#   SST-2, pretrained MiniLM: every method with a peft twin (LoRA, DoRA, rsLoRA, BitFit, IA3, full
#   fine-tuning), the quick profile on 8,000 training
#   sentences (250 updates of 32); CLS books (report 001), MiniLM pretrained and random, full fine-tuning,
#   the quick profile (3 epochs) with reviews cut to their first 64 tokens (report 001's lab kept 256; the twin
#   pads every batch to its longest review, which makes long reviews its slowest part). Seeds 1 2 3.
#   docs/hf_twin.md gives the measured wall times per impl.
# What the twin shares with the fairseq run and what differs by design: peft_roberta/hf/__init__.py.
# Options: METHODS (the SST-2 methods), SEEDS, PROFILE, PRECISION, ... (recipes/common.sh).
source "$(dirname "$0")/common.sh"
export BASELINE=hf
SEEDS=${SEEDS:-1 2 3}
MODEL=${MODEL:-minilm}
for METHOD in ${METHODS:-lora dora rslora bitfit ia3 full}; do
    TASK=sst2 INITS=pretrained SETTINGS="max_train=8000" run_setting
done
TASK=cls_books METHOD=full INITS="pretrained random" SETTINGS="max_positions=64" run_setting
aggregate_results
