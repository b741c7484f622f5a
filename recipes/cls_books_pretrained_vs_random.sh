#!/usr/bin/env bash
# The ALTeGraD transfer-learning lab (report 001): French book reviews (CLS books), RoBERTa-small
# (4 layers, 512 dims, FFN 512, 8 heads, 256 positions) with the lab's sentencepiece vocabulary,
# full fine-tuning, seeds 0 1 2; batch 8, lr 1e-5, Adam (0.9, 0.98), weight decay 0.01, polynomial
# decay with 6% warmup, inputs cut to 256 tokens; 5 epochs (paper) or 3 (quick).
# The lab's pretrained RoBERTa-small checkpoint cannot be obtained here, so INITS defaults to random;
# with MODEL=<directory of a pretrained RoBERTa-small: model.pt, dict.txt, model_info.json>,
# INITS="pretrained random" compares both.
TASK=cls_books
METHOD=${METHOD:-full}
SEEDS=${SEEDS:-0 1 2}
if [[ -z ${MODEL:-} ]]; then  # no pretrained model: the architecture and the tokenizer are set here
    MODEL= INITS=${INITS:-random} MODEL_NAME=roberta-small
    TRAIN_ARGS="--arch roberta_peft_small --max-positions 256"
    # the lab's sentencepiece model; fairseq-preprocess builds the dictionary from the training split
    recipe_tokenizer() { TOKENIZER_OPTIONS=(--tokenizer sentencepiece --tokenizer-file "$DATA_PATH/sentencepiece.french.model"); }
fi
source "$(dirname "$0")/common.sh"
run_recipe
