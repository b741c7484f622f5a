# Shared steps of every recipe. A recipe sets its parameters, sources this file and calls run_recipe.
#
# Options every recipe takes from the environment:
#   METHOD    lora | bitfit | adapter | ia3 | full          (each recipe has its own default)
#   MODEL     minilm (default) | roberta.base | roberta.large | bert-tiny | a model or HF directory
#   INITS     "pretrained random" (default): the pretrained weights and their random-init twin
#   SEEDS     "1 2 3" (default)
#   PROFILE   quick (default on a machine without a GPU) | paper (the published settings)
#   PRECISION auto (default) | fp32 | bf16. bf16: matrix products in bfloat16 under torch.autocast (the
#             plugin's --autocast-bf16; weights, gradients and Adam state stay fp32). auto: bf16 when
#             training on a CPU that multiplies bfloat16 natively (AVX512-BF16 or AMX), else fp32
#   BASELINE  hf: also train the HuggingFace (transformers + peft) twin of every run
#   GRID      a hyper-parameter grid, e.g. "lr=1e-3,5e-4 batch=16,32" (keys: lr, batch and any
#             hyper-parameter below in lower case, except max_train: epochs warmup weight_decay dropout
#             lora_r lora_alpha lora_targets head ...); every point runs every seed. Values with commas
#             are separated by '|' instead: "lora_targets=q_proj|q_proj,v_proj"
#   NPROCS    training processes per node (default 1): fairseq's distributed data parallel through
#             torchrun, one process per GPU (NGPUS=N is the same), or gloo processes on CPU. BATCH stays
#             the total batch (BATCH / processes per process). Several nodes: NNODES, NODE_RANK,
#             MASTER_ADDR, MASTER_PORT (WORK_DIR on a shared file system; node 0 writes the results)
#   DATA_DIR  folder with the dataset's files (GLUE tasks also read GLUE_DIR, the GLUE root)
#   WORKERS   processes for tokenizing and binarizing (default 2)
#   WORK_DIR  where data-bin/, checkpoints/ and results/ go (default: the project folder)
# Any hyper-parameter of set_hyperparameters below can also be set in the environment, e.g.
#   LR=5e-4 MAX_TRAIN=2000 bash recipes/sst2_lora.sh
# Results: results/<recipe>/runs.jsonl (one row per run) and results/<recipe>/summary.*;
# checkpoints: checkpoints/<recipe>/; binarized data: data-bin/<task>.<tokenizer>/.
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

# ---------------------------------------------------------------- the datasets the recipes know
# Sets DATASET (its folder under a data root), FETCH (scripts/fetch_data.py name), the files,
# the text and label columns, and PREPARE_OPTIONS (extra prepare_data.py options).
load_task() {
    PREPARE_OPTIONS=()
    case $1 in
        sst2) DATASET=glue/SST-2 FETCH=sst2 TRAIN_FILE=train.tsv DEV_FILE=dev.tsv TEST_FILE=
              TEXT_COLUMNS=sentence LABEL_COLUMN=label ;;
        mrpc) DATASET=glue/MRPC FETCH=mrpc TRAIN_FILE=train.tsv DEV_FILE=dev.tsv
              TEST_FILE=msr_paraphrase_test.txt TEXT_COLUMNS="#1 String,#2 String" LABEL_COLUMN=Quality ;;
        imdb) DATASET=imdb FETCH=imdb TRAIN_FILE=train.csv DEV_FILE=test.csv TEST_FILE=test.csv
              TEXT_COLUMNS=text LABEL_COLUMN=label PREPARE_OPTIONS=(--strip-html) ;;
        cls_books) DATASET=cls_books FETCH=cls_books TRAIN_FILE=train.tsv DEV_FILE=valid.tsv
              TEST_FILE=test.tsv TEXT_COLUMNS=sentence LABEL_COLUMN=label ;;
        restaurant) DATASET=dsp/restaurant_sup FETCH=restaurant TRAIN_FILE=train.jsonl DEV_FILE=dev.jsonl
              TEST_FILE=test.jsonl TEXT_COLUMNS=aspect,text LABEL_COLUMN=label ;;
        custom) DATASET= FETCH= ;;  # recipes/custom.sh sets the files and columns
        *) die "unknown task '$1' (sst2, mrpc, imdb, cls_books, restaurant, or recipes/custom.sh)" ;;
    esac
}

# ---------------------------------------------------------------- hyper-parameters
HYPERPARAMETERS=(LR BATCH EPOCHS WARMUP WARMUP_UPDATES WEIGHT_DECAY DROPOUT MAX_TRAIN MAX_UPDATES MAX_POSITIONS
                 VALIDATIONS ADAM_BETAS ADAM_EPS LORA_R LORA_ALPHA LORA_TARGETS BITFIT_BIASES ADAPTER_DIM
                 ADAPTER_TYPE IA3_TARGETS HEAD)
declare -A FROM_ENVIRONMENT=()
for _name in "${HYPERPARAMETERS[@]}"; do
    if [[ -n ${!_name+set} ]]; then FROM_ENVIRONMENT[$_name]=${!_name}; fi
done

# quick: CPU-sized runs of the default MiniLM; paper: the settings of the papers and reports.
# Sets LR BATCH EPOCHS WARMUP (ratio of the updates, or WARMUP_UPDATES) WEIGHT_DECAY DROPOUT
# MAX_TRAIN (empty: all) MAX_UPDATES (empty: from EPOCHS) and the method's options.
set_hyperparameters() {
    BATCH=32 EPOCHS=1 WARMUP=0.06 WARMUP_UPDATES= WEIGHT_DECAY=0.01 DROPOUT=0.1 MAX_TRAIN= MAX_UPDATES=
    ADAM_BETAS="(0.9,0.98)" ADAM_EPS=1e-6 MAX_POSITIONS= VALIDATIONS=4
    LORA_R=8 LORA_ALPHA=16 LORA_TARGETS=q_proj,v_proj BITFIT_BIASES=all ADAPTER_DIM=64 ADAPTER_TYPE=houlsby
    IA3_TARGETS=k_proj,v_proj,fc2 HEAD=all
    case $PROFILE/$METHOD in
        quick/lora) LR=2e-3 ;;
        quick/bitfit) LR=3e-3 ;;
        quick/adapter) LR=1e-3 ;;
        quick/ia3) LR=5e-3 ;;
        quick/full) LR=5e-5 ;;
        paper/lora) LR=5e-4 BATCH=16 EPOCHS=60 LORA_ALPHA=8 WEIGHT_DECAY=0.1 ;;  # LoRA paper, roberta-base
        paper/bitfit) LR=1e-3 BATCH=8 EPOCHS=16 ;;                                # BitFit's code
        paper/adapter) LR=9e-5 BATCH=16 EPOCHS=70 WARMUP_UPDATES=70 DROPOUT=0.3 ;;  # report 004
        paper/ia3) LR=3e-3 BATCH=16 EPOCHS=10 ;;                                   # report 003's 10 epochs
        paper/full) LR=1e-5 BATCH=32 EPOCHS=10 WEIGHT_DECAY=0.1 ;;                 # fairseq's GLUE recipe
    esac
    [[ $PROFILE == paper ]] && VALIDATIONS=1  # validate at the end of every epoch
    case $PROFILE/$TASK/$METHOD in
        quick/sst2/*) MAX_TRAIN=32000 ;;
        quick/imdb/*) MAX_TRAIN=2000 MAX_POSITIONS=128 ;;
        quick/mrpc/*) EPOCHS=3 BATCH=16 ;;
        quick/restaurant/*) EPOCHS=3 BATCH=16 ;;
        paper/sst2/full) MAX_UPDATES=20935 WARMUP_UPDATES=1256 ;;
        paper/mrpc/full) BATCH=16 MAX_UPDATES=2296 WARMUP_UPDATES=137 ;;
        paper/mrpc/lora) LR=4e-4 EPOCHS=30 ;;
        paper/restaurant/full) LR=9e-5 BATCH=16 EPOCHS=70 WARMUP_UPDATES=70 DROPOUT=0.3 WEIGHT_DECAY=0.01 ;;
        paper/imdb/*) MAX_POSITIONS=50 MAX_TRAIN=2000 ;;  # report 003: first 50 tokens of a subset
    esac
    # the ALTeGraD lab (report 001): RoBERTa-small, batch 8, lr 1e-5, 5 epochs, 6% warmup, wd 0.01
    if [[ $TASK == cls_books ]]; then
        LR=1e-5 BATCH=8 EPOCHS=5 WARMUP=0.06 WEIGHT_DECAY=0.01 MAX_POSITIONS=256 VALIDATIONS=1
        [[ $PROFILE == quick ]] && EPOCHS=3
    fi
    # a recipe's own settings (a function recipe_hyperparameters in the recipe); the environment wins
    if declare -F recipe_hyperparameters >/dev/null; then recipe_hyperparameters; fi
    local name
    for name in "${!FROM_ENVIRONMENT[@]}"; do printf -v "$name" '%s' "${FROM_ENVIRONMENT[$name]}"; done
}

# GRID keys and the variables they set: every hyper-parameter in lower case (MAX_TRAIN excepted: the
# data is prepared once per recipe run)
declare -A GRID_KEYS=()
for _name in "${HYPERPARAMETERS[@]}"; do
    [[ $_name == MAX_TRAIN ]] || GRID_KEYS[${_name,,}]=$_name
done
# keys of one method only (a grid over them with another method would run the same thing again)
declare -A GRID_KEY_METHOD=([lora_r]=lora [lora_alpha]=lora [lora_targets]=lora [bitfit_biases]=bitfit
                            [adapter_dim]=adapter [adapter_type]=adapter [ia3_targets]=ia3)

grid_points() {  # one line per point of $GRID: "key=value key=value ..." (one empty line without a grid)
    local points=("") spec key values value point seen=" "
    for spec in ${GRID:-}; do
        key=${spec%%=*} values=${spec#*=}
        [[ $spec == *=* && -n $values && -n ${GRID_KEYS[$key]:-} ]] ||
            die "GRID: '$spec' is not key=v1,v2,... with a key among: $(printf '%s\n' "${!GRID_KEYS[@]}" | sort | tr '\n' ' ')"
        [[ $seen != *" $key "* ]] || die "GRID: '$key' is given twice"
        seen+="$key "
        [[ -z ${GRID_KEY_METHOD[$key]:-} || ${GRID_KEY_METHOD[$key]} == "${METHOD:-}" ]] ||
            die "GRID: '$key' only acts with METHOD=${GRID_KEY_METHOD[$key]} (METHOD=${METHOD:-})"
        local separator=,
        [[ $values == *'|'* ]] && separator='|'
        local next=()
        for point in "${points[@]}"; do
            IFS=$separator read -ra vs <<< "$values"
            for value in "${vs[@]}"; do next+=("${point:+$point }$key=$value"); done
        done
        points=("${next[@]}")
    done
    printf '%s\n' "${points[@]}"
}

apply_grid_point() {
    local assignment
    for assignment in $1; do
        printf -v "${GRID_KEYS[${assignment%%=*}]}" '%s' "${assignment#*=}"
    done
}

add_grid_point_to_config() {  # a swept setting CONFIG does not show yet joins it: points never share a row
    local assignment key value
    for assignment in $1; do
        key=${assignment%%=*} value=${assignment#*=}
        case $key in epochs | max_updates | warmup | warmup_updates) continue ;; esac  # in "updates", "warmup_updates"
        [[ $CONFIG == *"\"$key\":"* ]] && continue
        [[ $value =~ ^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$ ]] || value="\"$value\""
        CONFIG="${CONFIG%\}}, \"$key\": $value}"
    done
}

# ---------------------------------------------------------------- checks of the options
check_options() {
    case $METHOD in lora | bitfit | adapter | ia3 | full) ;; none) METHOD=full ;;
        *) die "METHOD=$METHOD: choose lora, bitfit, adapter, ia3 or full" ;; esac
    case $PROFILE in quick | paper) ;; *) die "PROFILE=$PROFILE: choose quick or paper" ;; esac
    [[ -n $INITS ]] || die "INITS is empty: give pretrained, random or both"
    local init seed
    for init in $INITS; do
        [[ $init == pretrained || $init == random ]] || die "INITS='$INITS': '$init' is neither pretrained nor random"
    done
    [[ -n $SEEDS ]] || die "SEEDS is empty: give integers, e.g. SEEDS=\"1 2 3\""
    for seed in $SEEDS; do [[ $seed =~ ^[0-9]+$ ]] || die "SEEDS='$SEEDS': '$seed' is not a non-negative integer"; done
    case ${BASELINE:-} in "" | none | hf) ;; *) die "BASELINE=$BASELINE: choose hf or leave it unset" ;; esac
    case $PRECISION in fp32 | bf16) ;; *) die "PRECISION=$PRECISION: choose auto, fp32 or bf16" ;; esac
    grid_points >/dev/null
    check_distributed
}

# ---------------------------------------------------------------- several processes (torchrun)
check_distributed() {  # sets NPROCS NNODES NODE_RANK PROCESSES (processes in all) and DISTRIBUTED_OPTIONS
    local name
    if [[ -n ${NGPUS:-} && -n ${NPROCS:-} && $NGPUS != "$NPROCS" ]]; then
        die "NGPUS=$NGPUS and NPROCS=$NPROCS: give one of them (processes per node)"
    fi
    NPROCS=${NPROCS:-${NGPUS:-1}} NNODES=${NNODES:-1} NODE_RANK=${NODE_RANK:-0}
    for name in NPROCS NNODES; do
        [[ ${!name} =~ ^[1-9][0-9]*$ ]] || die "$name=${!name}: not a positive integer"
    done
    [[ $NODE_RANK =~ ^[0-9]+$ ]] && ((NODE_RANK < NNODES)) || die "NODE_RANK=$NODE_RANK: give 0 to NNODES-1 ($((NNODES - 1)))"
    ((NNODES == 1)) || [[ -n ${MASTER_ADDR:-} ]] || die "NNODES=$NNODES: set MASTER_ADDR to node 0's address"
    PROCESSES=$((NPROCS * NNODES)) DISTRIBUTED_OPTIONS=()
    if ((PROCESSES > 1)); then
        DISTRIBUTED_OPTIONS=(--nproc-per-node "$NPROCS" --nnodes "$NNODES" --node-rank "$NODE_RANK"
                             ${MASTER_ADDR:+--master-addr "$MASTER_ADDR"} ${MASTER_PORT:+--master-port "$MASTER_PORT"})
    fi
}

check_batches() {  # every point's BATCH splits evenly over the processes
    local point
    ((PROCESSES > 1)) || return 0
    while IFS= read -r point; do
        set_hyperparameters
        apply_grid_point "$point"
        ((BATCH % PROCESSES == 0)) ||
            die "BATCH=$BATCH${point:+ (grid point $point)} does not split over $PROCESSES processes: BATCH is the total batch"
    done < <(grid_points)
    set_hyperparameters
}

# ---------------------------------------------------------------- data
find_data() {  # sets TRAIN_PATH DEV_PATH TEST_PATH, from the first folder that holds $TRAIN_FILE
    local candidates=() dir explicit=
    DATA_PATH=
    if [[ $TASK_KIND == custom ]]; then
        TRAIN_PATH=$TRAIN_FILE DEV_PATH=$DEV_FILE TEST_PATH=${TEST_FILE:-}
        return
    fi
    if [[ -n ${DATA_DIR:-} ]]; then  # an explicit folder is the only place to look
        [[ -d $DATA_DIR ]] || die "DATA_DIR=$DATA_DIR: no such directory"
        candidates=("$DATA_DIR" "$DATA_DIR/$DATASET") explicit=DATA_DIR
    elif [[ $DATASET == glue/* && -n ${GLUE_DIR:-} ]]; then
        [[ -d $GLUE_DIR ]] || die "GLUE_DIR=$GLUE_DIR: no such directory"
        candidates=("$GLUE_DIR/${DATASET#glue/}") explicit=GLUE_DIR
    else
        candidates=("data/$DATASET" "$REPO_ROOT/../shared/data/$DATASET")
    fi
    for dir in "${candidates[@]}"; do
        if [[ -f $dir/$TRAIN_FILE ]]; then DATA_PATH=$(cd "$dir" && pwd); break; fi
    done
    [[ -n $DATA_PATH || -z $explicit ]] || die "$explicit: no $TRAIN_FILE in ${candidates[*]}"
    if [[ -z $DATA_PATH ]]; then
        say "no $TASK data in ${candidates[*]}; downloading the official files into data/$DATASET"
        "$PYTHON" scripts/fetch_data.py "$FETCH" --dest "data/$DATASET" ||
            die "no $TASK data: looked in ${candidates[*]} and could not download it; set DATA_DIR to the folder with $TRAIN_FILE${DATASET:+ (GLUE tasks: GLUE_DIR to the GLUE root)}"
        DATA_PATH=$REPO_ROOT/data/$DATASET
    fi
    TRAIN_PATH=$DATA_PATH/$TRAIN_FILE DEV_PATH=$DATA_PATH/$DEV_FILE TEST_PATH=${TEST_FILE:+$DATA_PATH/$TEST_FILE}
}

resolve_model() {  # sets MODEL_DIR TRAIN_ARGS HAS_WEIGHTS (unless the recipe builds its model itself)
    if [[ -n ${MODEL:-} ]]; then
        local described
        described=$("$PYTHON" scripts/get_model.py "$MODEL" --shell) || exit 2
        eval "$described"
        TOKENIZER_OPTIONS=(--model-dir "$MODEL_DIR")
    else  # the recipe sets TRAIN_ARGS and MODEL_NAME, and its recipe_tokenizer sets TOKENIZER_OPTIONS
        MODEL_DIR= HAS_WEIGHTS=0
        recipe_tokenizer
    fi
    MODEL_NAME=${MODEL_NAME:-$(basename "${MODEL:-model}")}
    if [[ $HAS_WEIGHTS == 0 && " $INITS " == *" pretrained "* ]]; then
        die "MODEL=${MODEL:-(none)} has no pretrained weights here: use INITS=random, or point MODEL at a model directory with model.pt"
    fi
}

prepare_data() {  # sets DATA_BIN
    local options=(--task "$TASK_ID" --train "$TRAIN_PATH" --dev "$DEV_PATH"
                   --text-columns "$TEXT_COLUMNS" --label-column "$LABEL_COLUMN" --workers "${WORKERS:-2}"
                   "${TOKENIZER_OPTIONS[@]}" "${PREPARE_OPTIONS[@]}")
    [[ -n $TEST_PATH ]] && options+=(--test "$TEST_PATH")
    [[ -n $MAX_TRAIN ]] && options+=(--max-train "$MAX_TRAIN")
    DATA_BIN=$("$PYTHON" scripts/prepare_data.py "${options[@]}" --print-out-dir) || exit 2
    DATA_BIN=$WORK_DIR/$DATA_BIN
    "$PYTHON" scripts/prepare_data.py "${options[@]}" --out-dir "$DATA_BIN" || exit $?
    N_TRAIN=$(wc -l < "$DATA_BIN/examples/train.jsonl")
}

# ---------------------------------------------------------------- training
training_options() {  # fairseq-train options of the current hyper-parameters: sets FAIRSEQ_OPTIONS CONFIG
    local per_epoch=$(((N_TRAIN + BATCH - 1) / BATCH))
    local total=${MAX_UPDATES:-$((per_epoch * EPOCHS))}
    local warmup=${WARMUP_UPDATES:-$("$PYTHON" -c "print(round($WARMUP * $total))")}
    local every=$(((per_epoch + VALIDATIONS - 1) / VALIDATIONS))
    FAIRSEQ_OPTIONS=(--batch-size "$((BATCH / ${PROCESSES:-1}))" --required-batch-size-multiple 1 --max-update "$total"
        --optimizer adam --adam-betas "$ADAM_BETAS" --adam-eps "$ADAM_EPS" --weight-decay "$WEIGHT_DECAY"
        --lr "$LR" --lr-scheduler polynomial_decay --warmup-updates "$warmup" --total-num-update "$total"
        --dropout "$DROPOUT" --attention-dropout "$DROPOUT" --clip-norm 0.0
        --head-trainable "$HEAD" --log-interval 20)
    if ((VALIDATIONS > 1)); then
        FAIRSEQ_OPTIONS+=(--validate-interval-updates "$every" --save-interval-updates "$every" --keep-interval-updates 1)
    fi
    # longer inputs are cut; a pretrained model keeps only the position embeddings it needs
    [[ -n $MAX_POSITIONS ]] && FAIRSEQ_OPTIONS+=(--shorten-method truncate --max-positions "$MAX_POSITIONS")
    local method_config
    case $METHOD in
        lora) FAIRSEQ_OPTIONS+=(--lora-r "$LORA_R" --lora-alpha "$LORA_ALPHA" --lora-targets "$LORA_TARGETS")
              method_config="\"lora_r\": $LORA_R, \"lora_alpha\": $LORA_ALPHA, \"lora_targets\": \"$LORA_TARGETS\"" ;;
        bitfit) FAIRSEQ_OPTIONS+=(--bitfit-biases "$BITFIT_BIASES")
                method_config="\"bitfit_biases\": \"$BITFIT_BIASES\"" ;;
        adapter) FAIRSEQ_OPTIONS+=(--adapter-dim "$ADAPTER_DIM" --adapter-type "$ADAPTER_TYPE")
                 method_config="\"adapter_dim\": $ADAPTER_DIM, \"adapter_type\": \"$ADAPTER_TYPE\"" ;;
        ia3) FAIRSEQ_OPTIONS+=(--ia3-targets "$IA3_TARGETS")
             method_config="\"ia3_targets\": \"$IA3_TARGETS\"" ;;
        full) method_config="\"full\": true" ;;
    esac
    if [[ $PRECISION == bf16 ]]; then
        FAIRSEQ_OPTIONS+=(--autocast-bf16)
        method_config+=", \"precision\": \"bf16\""
    fi
    CONFIG="{\"lr\": $LR, \"batch\": $BATCH, \"updates\": $total, \"warmup_updates\": $warmup, \"weight_decay\": $WEIGHT_DECAY, \"dropout\": $DROPOUT, \"max_train\": ${MAX_TRAIN:-null}, \"max_positions\": ${MAX_POSITIONS:-null}, \"head\": \"$HEAD\", $method_config}"
}

run_one() {  # $1 impl, $2 init, $3 seed, $4 grid point label
    local impl=$1 init=$2 seed=$3 label=$4
    local name="$init.seed$seed${label:+.${label// /.}}"
    [[ $impl == hf ]] && name="hf.$name"
    local options=("${FAIRSEQ_OPTIONS[@]}")
    if [[ $impl == hf ]] && ((${PROCESSES:-1} > 1)); then
        options+=(--batch-size "$BATCH")  # the HF twin is one process: the total batch
    fi
    "$PYTHON" scripts/run_experiment.py --impl "$impl" --recipe "$RECIPE" --task "$TASK" --data-bin "$DATA_BIN" \
        --model "$MODEL_NAME" ${MODEL_DIR:+--model-dir "$MODEL_DIR"} --train-args "$TRAIN_ARGS" \
        --method "$METHOD" --init "$init" --seed "$seed" --profile "$PROFILE" --config "$CONFIG" \
        --results "$WORK_DIR/results/$RECIPE/runs.jsonl" --save-dir "$WORK_DIR/checkpoints/$RECIPE/$name" \
        "${DISTRIBUTED_OPTIONS[@]}" -- "${options[@]}"
}

run_recipe() {  # one method, model and inits: train every run, then print the table
    run_setting
    aggregate_results
}

gpu_available() {  # whether torch sees a CUDA device (asked once)
    [[ -n ${GPU_AVAILABLE:-} ]] ||
        GPU_AVAILABLE=$("$PYTHON" -c "import torch; print('yes' if torch.cuda.is_available() else 'no')")
    [[ $GPU_AVAILABLE == yes ]]
}

set_default_profile() {  # PROFILE unset: paper with a GPU, quick without
    if [[ -z ${PROFILE:-} ]]; then
        if gpu_available; then PROFILE=paper; else PROFILE=quick; fi
    fi
}

cpu_has_bf16() {  # whether the CPU multiplies bfloat16 natively (AVX512-BF16 or AMX); elsewhere bf16 is slower
    grep -qwE 'avx512_bf16|amx_bf16' /proc/cpuinfo 2>/dev/null
}

run_setting() {  # prepare the data and train every grid point x init x seed of METHOD, MODEL, INITS
    METHOD=${METHOD:-lora} MODEL=${MODEL-minilm} INITS=${INITS:-pretrained random} SEEDS=${SEEDS:-1 2 3}
    set_default_profile
    if [[ ${PRECISION:-auto} == auto ]]; then
        if cpu_has_bf16 && ! gpu_available; then PRECISION=bf16; else PRECISION=fp32; fi
    fi
    TASK_KIND=${TASK_KIND:-$TASK}
    WORK_DIR=$(mkdir -p "${WORK_DIR:-$REPO_ROOT}" && cd "${WORK_DIR:-$REPO_ROOT}" && pwd)
    load_task "$TASK_KIND"
    check_options
    set_hyperparameters
    check_batches
    TASK_ID=$TASK${MAX_TRAIN:+-$MAX_TRAIN}
    say "task $TASK, method $METHOD, model ${MODEL:-${MODEL_NAME:-}}, inits $INITS, seeds $SEEDS, profile $PROFILE, precision $PRECISION"
    find_data
    # a recipe may derive its own splits (a function recipe_data: TRAIN_PATH DEV_PATH TEST_PATH, TASK_ID)
    if declare -F recipe_data >/dev/null; then recipe_data; fi
    resolve_model
    prepare_data
    local start=$SECONDS point init seed impl
    local impls=(fairseq)
    [[ ${BASELINE:-} == hf ]] && impls+=(hf)
    while IFS= read -r point; do
        set_hyperparameters
        apply_grid_point "$point"
        training_options
        add_grid_point_to_config "$point"
        for init in $INITS; do
            for seed in $SEEDS; do
                for impl in "${impls[@]}"; do run_one "$impl" "$init" "$seed" "$point"; done
            done
        done
    done < <(grid_points)
    say "all runs done in $((SECONDS - start)) s; results in $WORK_DIR/results/$RECIPE/"
}

aggregate_results() {  # the table of results/<recipe>/runs.jsonl (node 0 only on several nodes)
    if ((${NODE_RANK:-0} > 0)); then say "node $NODE_RANK: done; node 0 writes the results"; return; fi
    "$PYTHON" scripts/aggregate_seeds.py "$WORK_DIR/results/$RECIPE/runs.jsonl" --out-dir "$WORK_DIR/results/$RECIPE"
}
