"""What every measurement here shares: device and precision, batches, memory figures, child processes."""
import json
import os
import random
import resource
import subprocess
import sys
import tempfile

from .. import paths
from ..errors import UserError

METHODS = ("lora", "bitfit", "full", "adapter", "ia3")
IMPLS = ("fairseq", "hf", "hf-tuned")
NO_HF_TWIN = {"adapter": "peft has no bottleneck adapter for encoder classifiers"}


def add_common_arguments(parser, model_help="pretrained model (preset or directory; default minilm)"):
    """The options every benchmark script takes: the model, the batch, the data size, threads, the work dir."""
    from ..cli import positive_int

    parser.add_argument("--model", default="minilm", help=model_help)
    parser.add_argument("--batch-size", type=positive_int, default=32)
    parser.add_argument("--max-train", type=positive_int, default=32000, help="training sentences (the quick profile's)")
    parser.add_argument("--threads", type=positive_int, help="torch threads on CPU (default: all cores)")
    parser.add_argument("--work-dir", default=str(paths.PROJECT_ROOT), help="where data-bin/ is (or is prepared)")


def comma_list(text, allowed, what):
    """The items of a comma list, each checked against ``allowed``; a bad one is a UserError."""
    items = [item for item in text.split(",") if item]
    unknown = [item for item in items if item not in allowed]
    if unknown or not items:
        raise UserError(f"--{what}: {', '.join(unknown) or 'empty'}: choose from {','.join(allowed)}")
    return items


def resolve_device(device):
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no GPU visible to torch")
    return device


def resolve_precision(precision, device, bf16_where_multiplied=False):
    """``auto``: bf16 on a GPU; on a CPU, bf16 where it multiplies bfloat16 natively and the caller
    takes it (``bf16_where_multiplied``: HF tuned, the recipes' PRECISION=auto), else fp32."""
    if precision != "auto":
        return precision
    if device == "cuda":
        return "bf16"
    from ..machine import cpu_multiplies_bf16

    return "bf16" if bf16_where_multiplied and cpu_multiplies_bf16() else "fp32"


def setup_threads(threads):
    import torch

    if threads:
        torch.set_num_threads(threads)


def precision_options(device, precision):
    """fairseq-train options of a device and precision: on a CPU, bf16 is the plugin's autocast."""
    if device == "cpu":
        return ["--cpu"] + (["--autocast-bf16"] if precision == "bf16" else [])
    return [f"--{precision}"] if precision in ("bf16", "fp16") else []


def synchronize(device):
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def warmup_and_measured(batches, warmup, steps, size_of):
    """(warm-up batches, measured batches), drawn at random from one epoch. The warm-up ends with the
    epoch's largest batch, so the peak memory is the epoch's, reached with the optimizer state allocated."""
    sample = random.Random(0).sample(batches, min(len(batches), warmup + steps))
    return sample[:warmup] + [max(batches, key=size_of)], sample[warmup:]


def peak_rss_mb():
    """Peak resident memory of this process so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_now_mb():
    with open("/proc/self/status", encoding="utf-8") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS"))


def file_mb(path):
    """Size of a file, or of everything under a folder, in MiB."""
    if not os.path.isdir(path):
        return os.path.getsize(path) / 2**20
    return sum(os.path.getsize(os.path.join(root, name)) for root, _, files in os.walk(path) for name in files) / 2**20


def count_lines(path):
    with open(path, encoding="utf-8") as f:
        return sum(1 for line in f if line.strip())


def num_classes(data_bin):
    with open(os.path.join(data_bin, "labels.json"), encoding="utf-8") as f:
        return len(json.load(f)["classes"])


def write_atomic(path, text):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


# ------------------------------------------------------------------------------- child processes
def run_child(module, spec, label):
    """Run ``python -m module SPEC RESULT`` (see :func:`child_main`); returns (its result, its peak RSS in MB)."""
    handle, spec_path = tempfile.mkstemp(prefix="bench-spec-", suffix=".json")
    with os.fdopen(handle, "w", encoding="utf-8") as f:
        json.dump(spec, f)
    result_path = spec_path[:-len(".json")] + ".result.json"
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(paths.PROJECT_ROOT), os.environ.get("PYTHONPATH")]))}
    with tempfile.TemporaryFile("w+", encoding="utf-8") as log:  # a file, not a pipe: a long log cannot block it
        proc = subprocess.Popen([sys.executable, "-m", module, spec_path, result_path], env=env,
                                stdout=subprocess.DEVNULL, stderr=log)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = status
        log.seek(0)
        stderr = log.read()
    os.remove(spec_path)
    if status != 0 or not os.path.exists(result_path):
        last = stderr.strip().splitlines()[-1:] or [""]
        if last[0].startswith("error: "):  # a UserError of the child: its one line
            raise UserError(f"{label}: {last[0][len('error: '):]}")
        raise UserError(f"{label} failed:\n{stderr[-3000:]}")
    with open(result_path, encoding="utf-8") as f:
        result = json.load(f)
    os.remove(result_path)
    return result, usage.ru_maxrss / 1024


def child_main(work):
    """The entry point of a child process: ``work(spec)`` -> a JSON-able result, written atomically."""
    spec_path, result_path = sys.argv[1:3]
    with open(spec_path, encoding="utf-8") as f:
        spec = json.load(f)
    setup_threads(spec.get("threads"))
    try:
        result = work(spec)
    except Exception as err:  # a UserError or CheckpointError: one line for the parent to show
        safety = sys.modules.get("fairseq_plugins.checkpoints.safety")  # not imported for it: HF workers lack it
        if not (isinstance(err, UserError) or (safety and isinstance(err, safety.CheckpointError))):
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2
    write_atomic(result_path, json.dumps(result))
    return 0
