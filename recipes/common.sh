# Shared steps of every recipe. A recipe sets its parameters, sources this file and calls run_recipe.
#
# Options every recipe takes from the environment:
#   METHOD    lora | dora | rslora | bitfit | adapter | parallel | ia3 | prefix | mam | full
#             (each recipe has its own default; peft_roberta/runs/settings.py RECIPE_METHODS)
#   MODEL     minilm (default) | roberta.base | roberta.large | bert-tiny | a model or HF directory
#   INITS     "pretrained random" (default): the pretrained weights and their random-init twin
#   SEEDS     "1 2 3" (default)
#   PROFILE   quick (default without a GPU) | paper (the published settings)
#   PRECISION auto (default) | fp32 | bf16. bf16: matrix products in bfloat16 under torch.autocast (the
#             plugin's --autocast-bf16; weights, gradients and Adam state stay fp32). auto: bf16 when
#             training on a CPU that multiplies bfloat16 natively (AVX512-BF16 or AMX), else fp32
#   BASELINE  hf: also train the HuggingFace (transformers + peft) twin of every run
#   GRID      a hyper-parameter grid, e.g. "lr=1e-3,5e-4 batch=16,32": every point runs every seed. Keys
#             are the settings below in lower case (not max_train); values with commas are separated
#             by '|' instead: "lora_targets=q_proj|q_proj,v_proj"
#   NPROCS    training processes per node (default 1; NGPUS=N is the same): fairseq's distributed data
#             parallel through torchrun, one process per GPU, or gloo processes on CPU. BATCH stays the
#             total batch. Several nodes: NNODES, NODE_RANK, MASTER_ADDR, MASTER_PORT (WORK_DIR on a
#             shared file system; node 0 writes the results)
#   DATA_DIR  folder with the dataset's files (GLUE tasks also read GLUE_DIR, the GLUE root)
#   WORKERS   processes for tokenizing and binarizing (default 2)
#   WORK_DIR  where data-bin/, checkpoints/ and results/ go (default: the project folder)
#   TENSORBOARD  a folder: every run (and its HF twin) logs to TENSORBOARD/<recipe>/<run> for
#             `tensorboard --logdir`; not part of a run's identity
# Relative paths are taken from the folder the recipe was started in. Every hyper-parameter can be
# set too (LR=5e-4 MAX_TRAIN=2000 ...): `python scripts/recipe_plan.py settings` lists them all.
#
# A recipe file sets TASK and may set defaults for METHOD, MODEL, INITS, SEEDS and GRID (the user's
# variables win), SETTINGS (its own hyper-parameters, "key=value ...": above the profile, below the
# user's variables), TRAIN_ARGS, MODEL_NAME and a function recipe_tokenizer (its own architecture when
# MODEL is empty), and a function recipe_data (its own splits: TRAIN_PATH DEV_PATH TEST_PATH TASK_ID).
# Every setting is checked before any work (scripts/recipe_plan.py check); the runs' identity,
# configuration and checkpoint folders are computed in Python (peft_roberta/runs/).
# Results: results/<recipe>/runs.jsonl (one row per run) and results/<recipe>/summary.*;
# checkpoints: checkpoints/<recipe>/<impl>.<init>.seed<seed>.<run id>/; data: data-bin/<task>.<tokenizer>/.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RECIPE=${RECIPE:-$(basename "$0" .sh)}
CALLER_DIR=$PWD  # relative paths a user gives are relative to where the recipe was started
cd "$REPO_ROOT"
if [[ -z ${VIRTUAL_ENV:-} && -x .venv/bin/python ]]; then
    PATH="$REPO_ROOT/.venv/bin:$PATH"
fi
PYTHON=${PYTHON:-python}

die() { echo "$RECIPE: error: $*" >&2; exit 2; }
say() { echo "[$RECIPE] $*"; }

gpu_available() {  # whether torch sees a CUDA device (asked once)
    [[ -n ${GPU_AVAILABLE:-} ]] ||
        GPU_AVAILABLE=$("$PYTHON" -c "import torch; print('yes' if torch.cuda.is_available() else 'no')")
    [[ $GPU_AVAILABLE == yes ]]
}

set_default_profile() {  # PROFILE unset: paper with a GPU, quick without (a recipe may branch on it)
    if [[ -z ${PROFILE:-} ]]; then
        if gpu_available; then PROFILE=paper; else PROFILE=quick; fi
    fi
    export PROFILE
}

plan_options() {  # the recipe's own parameters, for scripts/recipe_plan.py
    PLAN_OPTIONS=(--recipe "$RECIPE" --task "${TASK_KIND:-$TASK}" --method "$METHOD" --model "$MODEL"
                  --inits "$INITS" --seeds "$SEEDS" --grid "${GRID:-}" --settings "${SETTINGS:-}"
                  --caller-dir "$CALLER_DIR")
}

fetch_data() {  # download the task's official files into DATA_PATH
    say "no $TASK data in data/ or the shared folder; downloading the official files into $DATA_PATH"
    "$PYTHON" scripts/fetch_data.py "$FETCH" --dest "$DATA_PATH" ||
        die "no $TASK data and it could not be downloaded; set DATA_DIR to the folder with its files (GLUE tasks: GLUE_DIR to the GLUE root)"
}

prepare_data() {  # sets DATA_BIN
    local options=(--task "$TASK_ID" --train "$TRAIN_PATH" --text-columns "$TEXT_COLUMNS"
                   --label-column "$LABEL_COLUMN" --workers "$WORKERS" "${TOKENIZER_OPTIONS[@]}" "${PREPARE_OPTIONS[@]}")
    [[ -n $DEV_PATH ]] && options+=(--dev "$DEV_PATH")
    [[ -n $TEST_PATH ]] && options+=(--test "$TEST_PATH")
    DATA_BIN=$("$PYTHON" scripts/prepare_data.py "${options[@]}" --print-out-dir) || exit 2
    DATA_BIN=$WORK_DIR/$DATA_BIN
    "$PYTHON" scripts/prepare_data.py "${options[@]}" --out-dir "$DATA_BIN" || exit $?
}

run_setting() {  # check, prepare the data and train every grid point x init x seed of METHOD, MODEL, INITS
    METHOD=${METHOD:-lora} MODEL=${MODEL-minilm} INITS=${INITS:-pretrained random} SEEDS=${SEEDS:-1 2 3}
    set_default_profile
    plan_options
    local checked
    checked=$("$PYTHON" scripts/recipe_plan.py check "${PLAN_OPTIONS[@]}" --train-args "${TRAIN_ARGS:-}" \
              --model-name "${MODEL_NAME:-}") || exit 2
    eval "$checked"  # PROFILE PRECISION METHOD INITS SEEDS WORK_DIR MODEL_DIR MODEL_NAME TRAIN_ARGS TASK_ID IMPLS
                     # TEXT_COLUMNS LABEL_COLUMN WORKERS DATA_PATH FETCH TRAIN_PATH DEV_PATH TEST_PATH PREPARE_OPTIONS
    say "task $TASK, method $METHOD, model $MODEL_NAME, inits $INITS, seeds $SEEDS, profile $PROFILE, precision $PRECISION"
    [[ -z $FETCH ]] || fetch_data
    if [[ -n $MODEL_DIR ]]; then TOKENIZER_OPTIONS=(--model-dir "$MODEL_DIR"); else recipe_tokenizer; fi
    if declare -F recipe_data >/dev/null; then recipe_data; fi
    prepare_data
    if [[ -z ${PLAN_DIR:-} ]]; then PLAN_DIR=$(mktemp -d) && trap 'rm -rf "$PLAN_DIR"' EXIT; fi
    local points start=$SECONDS point init seed impl
    points=$("$PYTHON" scripts/recipe_plan.py points "${PLAN_OPTIONS[@]}" --model-dir "$MODEL_DIR" \
             --train-args "$TRAIN_ARGS" --model-name "$MODEL_NAME" --data-bin "$DATA_BIN" \
             --out-dir "$(mktemp -d -p "$PLAN_DIR")") || exit 2
    for point in $points; do
        for init in $INITS; do
            for seed in $SEEDS; do
                for impl in $IMPLS; do
                    "$PYTHON" scripts/run_experiment.py --point "$point" --init "$init" --seed "$seed" --impl "$impl"
                done
            done
        done
    done
    say "all runs done in $((SECONDS - start)) s; results in $WORK_DIR/results/$RECIPE/"
}

aggregate_results() {  # the table of results/<recipe>/runs.jsonl (node 0 only on several nodes)
    if ((${NODE_RANK:-0} > 0)); then say "node $NODE_RANK: done; node 0 writes the results"; return; fi
    "$PYTHON" scripts/aggregate_seeds.py "$WORK_DIR/results/$RECIPE/runs.jsonl" --out-dir "$WORK_DIR/results/$RECIPE"
}

run_recipe() {  # one method, model and inits: train every run, then print the table
    run_setting
    aggregate_results
}
