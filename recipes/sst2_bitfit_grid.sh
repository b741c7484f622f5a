#!/usr/bin/env bash
# Report 002's search on SST-2: full fine-tuning vs BitFit (every bias, and only the biases of the
# classification head: 3,074 trained parameters on BERT-tiny), every batch size x learning rate,
# 4 epochs; the best configuration is chosen on dev, its test accuracy is reported.
# Two (model, init) pairs in one results file: BERT-tiny's shape from random init (MODEL=bert-tiny,
# MiniLM's vocabulary; no BERT-tiny weights are available here) and the pretrained default MiniLM.
#   paper: batch 8,16,32,64,128 x lr 3e-4,1e-4,5e-5,3e-5, 4 epochs, all training sentences, seeds 1 2 3
#   quick: batch 16,64 x lr 3e-4,5e-5, 2 epochs, 2,000 training sentences, seeds 1 2 (~17 min on 2 CPU cores in fp32)
# Test: SST-2 has no labelled test, so HELD_OUT (default 872) whole training sentences are set aside
# and never trained on: neither they nor the phrases that occur only inside them (SST-2's training
# file also lists the phrases of its sentences). Dev stays GLUE's dev.
# Options: METHOD (one of full, bitfit; default both), MODEL and INITS (one pair; default both pairs),
# GRID, SEEDS, PROFILE, NPROCS, ... (recipes/common.sh). BitFit's head: HEAD=bias unless set.
TASK=sst2
source "$(dirname "$0")/common.sh"

set_default_profile
HELD_OUT=${HELD_OUT:-872}
[[ $HELD_OUT =~ ^[1-9][0-9]*$ ]] || die "HELD_OUT=$HELD_OUT: not a positive integer"
if [[ $PROFILE == quick ]]; then
    GRID=${GRID-"batch=16,64 lr=3e-4,5e-5"} SEEDS=${SEEDS:-1 2}
else
    GRID=${GRID-"batch=8,16,32,64,128 lr=3e-4,1e-4,5e-5,3e-5"}
fi

recipe_hyperparameters() {  # report 002: 4 epochs; the best epoch on dev (validation once per epoch)
    # the same schedule for both methods (the profiles' per-method settings do not apply here)
    EPOCHS=4 MAX_UPDATES= WARMUP=0.06 WARMUP_UPDATES= WEIGHT_DECAY=0.01 DROPOUT=0.1 VALIDATIONS=1 BITFIT_BIASES=all
    [[ $METHOD == bitfit ]] && HEAD=bias
    if [[ $PROFILE == quick ]]; then EPOCHS=2 MAX_TRAIN=2000; else MAX_TRAIN=; fi
}

recipe_data() {  # the held-out test split, written once into the work dir
    local split=$WORK_DIR/data-bin/sst2-heldout$HELD_OUT.split
    "$PYTHON" - "$TRAIN_PATH" "$split" "$HELD_OUT" <<'PYTHON' || die "could not write the held-out split"
import json, os, random, shutil, sys, tempfile
source, split, held_out = sys.argv[1], sys.argv[2], int(sys.argv[3])
stamp = {"source": os.path.abspath(source), "size": os.path.getsize(source),
         "mtime_ns": os.stat(source).st_mtime_ns, "held_out": held_out, "seed": 0}
try:
    with open(os.path.join(split, "split.json")) as f:
        saved = json.load(f)
    if {key: saved.get(key) for key in stamp} == stamp:
        sys.exit(0)
except (OSError, ValueError):
    pass
with open(source, encoding="utf-8") as f:
    header, lines = f.readline(), [line for line in f if line.strip()]
text = [" " + line.split("\t")[0].strip() + " " for line in lines]
# SST-2's training file holds sentences and their phrases: a whole sentence is in no longer line
order = sorted(range(len(lines)), key=lambda i: -len(text[i]))
start, position = {}, 0
for i in order:
    start[i], position = position, position + len(text[i]) + 1
longest_first = "\n".join(text[i] for i in order)
candidates = list(range(len(lines)))
random.Random(0).shuffle(candidates)
test = []
for i in candidates:
    if len(test) == held_out:
        break
    if longest_first.find(text[i], 0, start[i]) == -1:
        test.append(i)
test_set = set(test)
inside_test = "\n".join(text[i] for i in test)
# phrases of the held-out sentences leave training too, unless another training sentence has them
inside = {i for i in range(len(lines)) if i not in test_set and text[i] in inside_test}
elsewhere = "\n".join(text[i] for i in range(len(lines)) if i not in test_set and i not in inside)
dropped = {i for i in inside if text[i] not in elsewhere}
os.makedirs(os.path.dirname(split), exist_ok=True)
tmp = tempfile.mkdtemp(dir=os.path.dirname(split), prefix=".heldout.")
with open(os.path.join(tmp, "train.tsv"), "w", encoding="utf-8") as f:
    f.write(header + "".join(lines[i] for i in range(len(lines)) if i not in test_set and i not in dropped))
with open(os.path.join(tmp, "test.tsv"), "w", encoding="utf-8") as f:
    f.write(header + "".join(lines[i] for i in sorted(test)))
with open(os.path.join(tmp, "split.json"), "w") as f:
    json.dump({**stamp, "test": len(test), "dropped_phrases": len(dropped),
               "train": len(lines) - len(test) - len(dropped)}, f)
if os.path.isdir(split):
    shutil.rmtree(split, ignore_errors=True)
try:
    os.rename(tmp, split)
except OSError:  # another recipe wrote it meanwhile
    shutil.rmtree(tmp, ignore_errors=True)
print(f"held-out test: {len(test)} training sentences; {len(dropped)} phrases found only inside them "
      f"left out of training; {len(lines) - len(test) - len(dropped)} training lines -> {split}")
PYTHON
    TRAIN_PATH=$split/train.tsv TEST_PATH=$split/test.tsv
    TASK_ID=sst2-heldout$HELD_OUT${MAX_TRAIN:+-$MAX_TRAIN}
}

if [[ -n ${MODEL:-} ]]; then
    MODELS=("$MODEL") MODEL_INITS=("${INITS:-pretrained random}")
else
    MODELS=(bert-tiny minilm) MODEL_INITS=(random pretrained)
fi
METHODS=${METHOD:-full bitfit}
for i in "${!MODELS[@]}"; do
    for METHOD in $METHODS; do
        MODEL=${MODELS[$i]} INITS=${MODEL_INITS[$i]} MODEL_NAME=
        run_setting
    done
done
aggregate_results
