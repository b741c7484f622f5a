#!/usr/bin/env python
"""Run one fine-tuning run with fairseq-train, evaluate its best checkpoint, append its row to runs.jsonl.

    python scripts/run_experiment.py --recipe sst2_lora --task sst2 --data-bin data-bin/sst2.wordpiece-1a2b3c4d \\
        --model minilm --method lora --init pretrained --seed 1 --results results/sst2_lora/runs.jsonl \\
        --save-dir checkpoints/sst2_lora/pretrained.seed1 --config '{"lr": 0.001}' -- --lr 1e-3 --batch-size 32 ...

Everything after ``--`` goes to fairseq-train as it is (the recipe's hyperparameters). This script
adds the sentence-prediction plumbing, the model's architecture options, the pretrained weights
(``--init pretrained``; ``random`` loads none: same architecture and dictionary, no weights) and
the seed. A run whose row is already in the results file is skipped; an interrupted run resumes
from its ``checkpoint_last.pt`` (fairseq's own resume).

With ``--nproc-per-node N`` (and ``--nnodes``, ``--node-rank``, ``--master-addr``, ``--master-port``
on several nodes) fairseq-train runs under torchrun as N processes per node (one per GPU, or gloo
processes on CPU; see fairseq_plugins/distributed.py); fairseq's --batch-size is then per process.
Node 0 evaluates and writes the row; the other nodes only train.
"""
import argparse
import fcntl
import json
import os
import re
import resource
import shlex
import subprocess
import sys
import time

from cli_types import positive_int

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

SENTENCE_PREDICTION = [
    "--task", "sentence_prediction_bucketed", "--criterion", "sentence_prediction", "--init-token", "0",
    "--best-checkpoint-metric", "accuracy", "--maximize-best-checkpoint-metric",
    "--no-epoch-checkpoints", "--num-workers", "0", "--log-format", "simple",
]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     usage="%(prog)s [options] -- FAIRSEQ_TRAIN_OPTIONS")
    parser.add_argument("--recipe", required=True)
    parser.add_argument("--task", required=True, help="task name written into the row")
    parser.add_argument("--data-bin", required=True, help="binarized data (prepare_data.py output)")
    parser.add_argument("--model", required=True, help="model name written into the row (e.g. minilm)")
    parser.add_argument("--model-dir", help="model directory (get_model.py output): pretrained weights, HF source")
    parser.add_argument("--train-args", required=True, help="fairseq-train options that build the architecture")
    parser.add_argument("--impl", default="fairseq", choices=["fairseq", "hf"],
                        help="fairseq-train with the plugin, or the HuggingFace twin (transformers + peft)")
    parser.add_argument("--method", required=True, help="--peft method")
    parser.add_argument("--init", required=True, choices=["pretrained", "random"])
    parser.add_argument("--seed", required=True, type=int)
    parser.add_argument("--results", required=True, help="runs.jsonl to append to")
    parser.add_argument("--save-dir", required=True)
    parser.add_argument("--config", default="{}", help="JSON object of the run's hyperparameters (row key)")
    parser.add_argument("--profile", default="")
    parser.add_argument("--keep-last", action="store_true", help="keep checkpoint_last.pt after a finished run")
    distributed = parser.add_argument_group("several processes (torchrun; fairseq impl only)")
    distributed.add_argument("--nproc-per-node", type=positive_int, default=1, metavar="N",
                             help="training processes on this node: one per GPU, or CPU processes (default 1)")
    distributed.add_argument("--nnodes", type=positive_int, default=1, metavar="N", help="nodes (default 1)")
    distributed.add_argument("--node-rank", type=int, default=0, metavar="R", help="this node's rank, 0..nnodes-1")
    distributed.add_argument("--master-addr", metavar="HOST", help="node 0's address (several nodes)")
    distributed.add_argument("--master-port", type=positive_int, metavar="PORT",
                             help="a free port on node 0 (default: any free port on one node, 29500 on several)")
    args, fairseq_args = parser.parse_known_args(argv)
    if fairseq_args and fairseq_args[0] == "--":
        fairseq_args = fairseq_args[1:]
    try:
        args.config = json.loads(args.config)
    except json.JSONDecodeError as err:
        parser.error(f"--config: not a JSON object ({err})")
    if not 0 <= args.node_rank < args.nnodes:
        parser.error(f"--node-rank {args.node_rank}: must be between 0 and --nnodes - 1 ({args.nnodes - 1})")
    if args.nnodes > 1 and not args.master_addr:
        parser.error("--nnodes > 1 needs --master-addr (node 0's address)")
    return args, fairseq_args


def world_size(args):
    return args.nproc_per_node * args.nnodes if args.impl == "fairseq" else 1


def one_process(args):
    """fairseq-train alone would spawn one process per visible GPU (its default world size): one means one."""
    return ["--distributed-world-size", "1"] if world_size(args) == 1 else []


def launcher(args):
    """How fairseq-train starts: one process, or torchrun running fairseq_plugins.distributed."""
    if world_size(args) == 1:
        return [sys.executable, "-m", "fairseq_cli.train"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(args.nproc_per_node)]
    if args.nnodes == 1 and not args.master_addr and not args.master_port:
        cmd.append("--standalone")  # one node: torchrun picks a free port
    else:
        cmd += ["--nnodes", str(args.nnodes), "--node-rank", str(args.node_rank),
                "--master-addr", args.master_addr or "127.0.0.1", "--master-port", str(args.master_port or 29500)]
    return cmd + ["-m", "fairseq_plugins.distributed"]


def pretrained_checkpoint(args):
    checkpoint = os.path.join(args.model_dir or "", "model.pt")
    if not os.path.isfile(checkpoint):
        raise SystemExit(f"run_experiment.py: error: --init pretrained needs --model-dir with a model.pt "
                         f"({checkpoint} does not exist); use --init random")
    return checkpoint


def pair_separator(args):
    """How the two texts of a pair are joined, as the model was pretrained.

    RoBERTa: ``<s> a </s></s> b </s>`` (fairseq's GLUE recipe, --separator-token 2); BERT-family
    conversions: ``<s> a </s> b </s>``, BERT's ``[CLS] a [SEP] b [SEP]`` (BERT's token type of the
    second text has no place in RoBERTa: both texts get type 0).
    """
    info = {}
    if args.model_dir and os.path.isfile(os.path.join(args.model_dir, "model_info.json")):
        with open(os.path.join(args.model_dir, "model_info.json"), encoding="utf-8") as f:
            info = json.load(f)
    bert_family = info.get("tokenizer", {}).get("type") == "wordpiece"
    return [] if bert_family else ["--separator-token", "2"]


def train_command(args, fairseq_args, num_classes):
    peft = "none" if args.method == "full" else args.method
    cmd = [*launcher(args), args.data_bin, "--user-dir", os.path.join(REPO, "fairseq_plugins"),
           *SENTENCE_PREDICTION, *pair_separator(args), *shlex.split(args.train_args), "--num-classes", str(num_classes),
           "--peft", peft, "--save-dir", args.save_dir, "--seed", str(args.seed), *one_process(args), *fairseq_args]
    if args.init == "pretrained":
        cmd += ["--finetune-from-model", pretrained_checkpoint(args)]
    return cmd


def last_update(log_path):
    updates = 0
    with open(log_path, encoding="utf-8", errors="replace") as f:
        for match in re.finditer(r"num_updates[ =](\d+)", f.read()):
            updates = int(match.group(1))
    return updates


def run_training(cmd, log_path):
    """Run fairseq-train, echoing its progress lines and keeping them in ``log_path``."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONWARNINGS": os.environ.get("PYTHONWARNINGS", "ignore")}
    if "fairseq_plugins.distributed" in cmd:  # torchrun's workers import it as a module
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")]))
    with open(log_path, "a", encoding="utf-8") as log:
        log.write("$ " + shlex.join(cmd) + "\n")
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        for line in proc.stdout:
            log.write(line)
            if " | INFO | train" in line or " | INFO | valid" in line or "Error" in line:
                sys.stdout.write(line)
                sys.stdout.flush()
        return proc.wait()


def metric_fields(prefix, metrics):
    if metrics is None:
        return {f"{prefix}_accuracy": None}
    return {f"{prefix}_{name}": round(value, 4) for name, value in metrics.items()}


def describe(row):
    dev = f"dev acc {row['dev_accuracy']:.2f}"
    for extra in ("dev_f1", "dev_macro_f1"):
        if row.get(extra) is not None and (extra != "dev_macro_f1" or row.get("dev_f1") is None):
            dev += f" {extra[4:]} {row[extra]:.2f}"
    test = f"test acc {row['test_accuracy']:.2f}" if row.get("test_accuracy") is not None else "no labelled test"
    return (f"[{row['recipe']}] {row['impl']} {row['init']} seed {row['seed']}: {dev} | {test} | "
            f"{row['updates']:,} updates in {row['wall_s']:.0f} s | {row['trainable_params']:,} trained")


def hf_command(args, fairseq_args, result_path):
    """The HuggingFace twin of the fairseq run: same data, weights, hyper-parameters and seed."""
    cmd = [sys.executable, os.path.join(REPO, "scripts", "hf_baseline.py"), "--data-bin", args.data_bin,
           "--method", args.method, "--init", args.init, "--seed", str(args.seed), "--save-dir", args.save_dir,
           "--result-json", result_path, f"--train-args={args.train_args}"]
    if args.model_dir:
        cmd += ["--model-dir", args.model_dir]
    return cmd + ["--", *fairseq_args]


def train_and_evaluate(args, fairseq_args, num_classes, log_path):
    """Run the training process; returns (command, evaluation results) or raises SystemExit."""
    from fairseq_plugins.evaluation import evaluate_checkpoint

    if args.impl == "fairseq":
        cmd = train_command(args, fairseq_args, num_classes)
    else:
        result_path = os.path.join(args.save_dir, "hf_result.json")
        cmd = hf_command(args, fairseq_args, result_path)
    code = run_training(cmd, log_path)
    if code != 0:
        raise SystemExit(f"run_experiment.py: error: {args.impl} training exited with {code}; see {log_path}")
    if args.impl == "hf":
        with open(result_path, encoding="utf-8") as f:
            return cmd, json.load(f)
    results = evaluate_checkpoint(os.path.join(args.save_dir, "checkpoint_best.pt"), args.data_bin)
    results["updates"] = last_update(log_path)
    return cmd, results


def main(argv=None):
    args, fairseq_args = parse_args(argv)
    os.makedirs(os.path.dirname(os.path.abspath(args.save_dir)), exist_ok=True)
    # one process per run directory: a second recipe reaching the same run waits, then finds it done
    # (each node of a multi-node run has its own lock: they run the same run together)
    node = f".node{args.node_rank}" if args.node_rank > 0 else ""
    with open(os.path.abspath(args.save_dir) + node + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return run(args, fairseq_args)


def num_classes_of(args):
    with open(os.path.join(args.data_bin, "labels.json"), encoding="utf-8") as f:
        return len(json.load(f)["classes"])


def run(args, fairseq_args):
    from fairseq_plugins.results import append_row, is_done

    key = {"recipe": args.recipe, "task": args.task, "model": args.model, "method": args.method,
           "init": args.init, "seed": args.seed, "impl": args.impl, "config": args.config}
    if is_done(args.results, key):
        print(f"[{args.recipe}] {args.impl} {args.init} seed {args.seed}: already in {args.results}, skipping")
        return 0
    if args.node_rank > 0 and args.impl != "fairseq":
        print(f"[{args.recipe}] {args.impl} {args.init} seed {args.seed}: runs on node 0", flush=True)
        return 0
    if world_size(args) > 1 and args.node_rank > 0:  # node 0 evaluates and writes the row
        os.makedirs(args.save_dir, exist_ok=True)
        log_path = os.path.join(args.save_dir, f"train.node{args.node_rank}.log")
        code = run_training(train_command(args, fairseq_args, num_classes_of(args)), log_path)
        if code != 0:
            raise SystemExit(f"run_experiment.py: error: fairseq training exited with {code}; see {log_path}")
        print(f"[{args.recipe}] {args.impl} {args.init} seed {args.seed}: node {args.node_rank} done "
              "(node 0 writes the row)", flush=True)
        return 0
    num_classes = num_classes_of(args)
    os.makedirs(args.save_dir, exist_ok=True)
    log_path = os.path.join(args.save_dir, "train.log")
    start = time.time()
    cmd, results = train_and_evaluate(args, fairseq_args, num_classes, log_path)
    wall = time.time() - start
    row = {
        **key, "profile": args.profile,
        **metric_fields("dev", results["dev"]), **metric_fields("test", results["test"]),
        "trainable_params": results["trainable_params"], "total_params": results["total_params"],
        "updates": results["updates"], "best_updates": results["best_updates"], "world_size": world_size(args),
        "wall_s": round(wall, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
        "data_bin": args.data_bin, "save_dir": args.save_dir, "command": shlex.join(cmd),
    }
    append_row(args.results, row)
    if not args.keep_last:
        for name in os.listdir(args.save_dir):
            if name == "checkpoint_last.pt" or re.fullmatch(r"checkpoint_\d+_\d+\.pt", name):
                os.remove(os.path.join(args.save_dir, name))
    print(describe(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
