"""One run of a recipe: fairseq-train (or its HuggingFace twin), the best checkpoint evaluated, one row.

A run is a grid point (``runs.plan``, written to a JSON file by ``scripts/recipe_plan.py``) with an
init, a seed and an implementation. Its fairseq-train options are resolved by fairseq itself and
make, with the data's and the model's fingerprints, its identity (``runs.identity``); the identity
names its checkpoint folder, ``<impl>.<init>.seed<seed>.<run id>``, so runs that differ in anything
never share a folder, and an identical rerun finds its row and is skipped. An interrupted run
resumes from its own ``checkpoint_last.pt``; one whose training ended is not trained again.
"""
import json
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass

from .. import paths
from ..errors import UserError
from . import identity as ids
from .fairseq_options import parse_train_args
from .results import append_row, find_row
from .settings import plugin_method
from .rows import build_row, describe

SENTENCE_PREDICTION = [
    "--task", "sentence_prediction_bucketed", "--criterion", "sentence_prediction", "--init-token", "0",
    "--no-epoch-checkpoints", "--num-workers", "0", "--log-format", "simple",
]
ACCURACY = ["--best-checkpoint-metric", "accuracy", "--maximize-best-checkpoint-metric"]  # a point of an older plan
DONE = "training_done.json"  # written when training has ended: a rerun evaluates without training again


@dataclass
class Run:
    point: dict
    init: str
    seed: int
    impl: str
    argv: list  # fairseq-train options, without --save-dir
    identity: dict
    run_id: str
    save_dir: str

    @property
    def world_size(self):
        d = self.point.get("distributed") or {}
        return d.get("nproc_per_node", 1) * d.get("nnodes", 1) if self.impl == "fairseq" else 1

    @property
    def node_rank(self):
        return (self.point.get("distributed") or {}).get("node_rank", 0)

    def describe(self):
        return f"[{self.point['recipe']}] {self.impl} {self.init} seed {self.seed}"


def pair_separator(point):
    """RoBERTa joins a pair as ``<s> a </s></s> b </s>`` (fairseq's GLUE recipe); BERT-family
    conversions as BERT's ``[CLS] a [SEP] b [SEP]``, i.e. ``<s> a </s> b </s>`` (both texts type 0)."""
    from ..model_dir import is_bert_family

    if point.get("model_dir") and is_bert_family(point["model_dir"]):
        return []
    return ["--separator-token", "2"]


def train_argv(point, init, seed, impl):
    """The fairseq-train options of one run (for the HF twin: the options it mirrors)."""
    argv = [point["data_bin"], "--user-dir", str(paths.PLUGIN_DIR), *SENTENCE_PREDICTION, *pair_separator(point),
            *point.get("task_options", ACCURACY), *point["train_args"], "--num-classes", str(point["num_classes"]),
            "--peft", plugin_method(point["method"]), "--seed", str(seed)]
    processes = (point.get("distributed") or {}).get("processes", 1)
    if impl == "fairseq" and processes == 1:
        argv += ["--distributed-world-size", "1"]  # fairseq alone would spawn one process per visible GPU
    argv += point["fairseq_options"]
    if impl == "hf" and processes > 1:  # the twin is one process: the total batch
        argv += ["--batch-size", str(point["config"]["batch"])]
    if init == "pretrained":
        weights = os.path.join(point.get("model_dir") or "", "model.pt")
        if not os.path.isfile(weights):
            raise UserError(f"INITS=pretrained needs a model with weights ({weights} does not exist); use INITS=random")
        argv += ["--finetune-from-model", weights]
    return argv


def prepare(point, init, seed, impl) -> Run:
    """The run's options as fairseq resolves them, its identity and its checkpoint folder."""
    argv = train_argv(point, init, seed, impl)
    options = ids.shaping_options(parse_train_args(argv + ["--save-dir", "unused"]))
    identity = ids.identity(impl, init, options, point["data_fingerprint"], point["model_fingerprint"])
    run_id = ids.run_id(identity)
    save_dir = os.path.join(point["checkpoints"], f"{impl}.{init}.seed{seed}.{run_id}")
    if point.get("tensorboard"):  # where logs go is not part of the identity (identity.NOT_SHAPING)
        argv = argv + ["--tensorboard-logdir", os.path.join(point["tensorboard"], f"{impl}.{init}.seed{seed}.{run_id}")]
    return Run(point, init, seed, impl, argv, identity, run_id, save_dir)


# ------------------------------------------------------------------------------ training
def launcher(run):
    """How fairseq-train starts: one process, or torchrun running fairseq_plugins.distributed."""
    if run.world_size == 1:
        return [sys.executable, "-m", "fairseq_cli.train"]
    d = run.point["distributed"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(d["nproc_per_node"])]
    if d["nnodes"] == 1 and not d.get("master_addr") and not d.get("master_port"):
        cmd.append("--standalone")  # one node: torchrun picks a free port
    else:
        cmd += ["--nnodes", str(d["nnodes"]), "--node-rank", str(d["node_rank"]),
                "--master-addr", d.get("master_addr") or "127.0.0.1", "--master-port", str(d.get("master_port") or 29500)]
    return cmd + ["-m", "fairseq_plugins.distributed"]


def training_command(run, result_path=None):
    if run.impl == "hf":
        return [sys.executable, str(paths.SCRIPTS_DIR / "hf_baseline.py"), "--save-dir", run.save_dir,
                "--result-json", result_path,
                *(["--model-dir", run.point["model_dir"]] if run.point.get("model_dir") else []), "--", *run.argv]
    return [*launcher(run), *run.argv, "--save-dir", run.save_dir]


def stream(cmd, log_path):
    """Run ``cmd``, echoing fairseq's progress lines and keeping every line in ``log_path``."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONWARNINGS": os.environ.get("PYTHONWARNINGS", "ignore")}
    if "fairseq_plugins.distributed" in cmd:  # torchrun's workers import it as a module
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(paths.PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
    with open(log_path, "a", encoding="utf-8") as log:
        log.write("$ " + shlex.join(cmd) + "\n")
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        for line in proc.stdout:
            log.write(line)
            if " | INFO | train" in line or " | INFO | valid" in line or "Error" in line or ": error:" in line:
                sys.stdout.write(line)
                sys.stdout.flush()
        return proc.wait()


def last_checkpoint_updates(save_dir):
    """Updates in ``checkpoint_last.pt``; an unreadable one is moved aside (the run starts over)."""
    from fairseq_plugins.checkpoints.safety import CheckpointError, safe_load

    path = os.path.join(save_dir, "checkpoint_last.pt")
    if not os.path.exists(path):
        return 0
    try:
        state = safe_load(path)
        return state["optimizer_history"][-1]["num_updates"]
    except (CheckpointError, KeyError, IndexError, TypeError) as err:
        aside = f"{path}.unreadable-{int(time.time())}"
        os.replace(path, aside)
        print(f"{path}: unreadable ({err}); moved to {os.path.basename(aside)}, the run starts over", flush=True)
        return 0


def train(run, log_path):
    """Train unless this run's training has already ended; returns {"updates", "train_s"}."""
    done = os.path.join(run.save_dir, DONE)
    if os.path.isfile(done):
        with open(done, encoding="utf-8") as f:
            return json.load(f)
    start = time.time()
    max_update = run.identity["options"]["max_update"]
    result_path = os.path.join(run.save_dir, "hf_result.json")
    updates = last_checkpoint_updates(run.save_dir) if run.impl == "fairseq" else 0
    if run.impl == "fairseq" and max_update and updates >= max_update:
        print(f"{run.describe()}: training had ended at update {updates}; evaluating", flush=True)
    else:
        code = stream(training_command(run, result_path), log_path)
        if code != 0:
            remove_temporary_files(run.save_dir)
            raise UserError(f"{run.impl} training exited with {code}; see {log_path}")
        if run.impl == "fairseq":
            updates = last_checkpoint_updates(run.save_dir)
    if run.impl == "hf":
        with open(result_path, encoding="utf-8") as f:
            updates = json.load(f)["updates"]
    trained = {"updates": updates, "train_s": round(time.time() - start, 1)}
    tmp = done + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(trained, f)
    os.replace(tmp, done)
    return trained


def remove_temporary_files(save_dir):
    """What a save that failed half-way leaves (``checkpoint_best.pt.tmp``, ...): never read, never kept."""
    for name in os.listdir(save_dir):
        if ".tmp" in name:
            os.remove(os.path.join(save_dir, name))


def remove_training_state(save_dir):
    """After the row is written: the best checkpoint and the PEFT-only file stay, the rest goes."""
    for name in os.listdir(save_dir):
        if name == "checkpoint_last.pt" or re.fullmatch(r"checkpoint_\d+_\d+\.pt", name):
            os.remove(os.path.join(save_dir, name))


def keep_going_on_node(run):
    """Nodes other than 0 of a multi-node run only train: node 0 evaluates and writes the row."""
    os.makedirs(run.save_dir, exist_ok=True)
    log_path = os.path.join(run.save_dir, f"train.node{run.node_rank}.log")
    code = stream(training_command(run), log_path)
    if code != 0:
        raise UserError(f"fairseq training exited with {code}; see {log_path}")
    print(f"{run.describe()}: node {run.node_rank} done (node 0 writes the row)", flush=True)


def execute(run, keep_last=False):
    """Train, evaluate and record ``run`` unless its row exists; returns the row (None when skipped)."""
    results = run.point["results"]
    if find_row(results, run.run_id) is not None:
        print(f"{run.describe()}: already in {results} (run {run.run_id}), skipping", flush=True)
        return None
    if run.node_rank > 0:
        if run.impl == "fairseq":
            keep_going_on_node(run)
        return None
    os.makedirs(run.save_dir, exist_ok=True)
    log_path = os.path.join(run.save_dir, "train.log")
    row = build_row(run, train(run, log_path), shlex.join(training_command(run, "hf_result.json")))
    append_row(results, row)
    if not keep_last and run.impl == "fairseq":
        remove_training_state(run.save_dir)
    print(describe(row), flush=True)
    return row

