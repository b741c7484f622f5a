#!/usr/bin/env bash
# The GLUE suite in one command: every GLUE task found, one table with the LoRA paper's rows beside.
#   SST-2, MRPC, CoLA and STS-B from ../shared/data/glue; MNLI (matched and mismatched dev), QNLI, QQP and
#   RTE too when GLUE_DIR (the GLUE root, as GLUE's download script lays it out) holds them. Each task is
#   judged and its best checkpoint chosen on GLUE's metric: CoLA MCC, STS-B Pearson (a regression), the
#   others accuracy (MRPC and QQP with F1 beside).
#   quick: the four shipped tasks x 3 seeds, pretrained MiniLM, about 30 minutes on 2 CPU cores (x 2 with
#          the random-init twin); paper: the LoRA paper's RoBERTa-base settings per task.
# Options: METHOD (default lora), MODEL, INITS, SEEDS, PROFILE, BASELINE, ... (recipes/common.sh); TASKS
# (a subset, e.g. TASKS="cola stsb").
source "$(dirname "$0")/common.sh"
METHOD=${METHOD:-lora}
TASKS=${TASKS:-$("$PYTHON" scripts/recipe_plan.py glue-tasks --caller-dir "$CALLER_DIR")}
[[ -n $TASKS ]] || die "no GLUE task found: set GLUE_DIR to the GLUE root"
for TASK in $TASKS; do
    run_setting
done
aggregate_results
"$PYTHON" scripts/glue_table.py "$WORK_DIR/results/$RECIPE/runs.jsonl" --out "$WORK_DIR/results/$RECIPE/glue.md"
