"""fairseq-train under torchrun: several GPUs, several nodes, or several CPU processes.

    torchrun --nproc-per-node 4 -m fairseq_plugins.distributed DATA --user-dir fairseq_plugins ...
    torchrun --nnodes 2 --node-rank R --master-addr HOST --master-port 29500 --nproc-per-node 4 \\
        -m fairseq_plugins.distributed DATA --user-dir fairseq_plugins ...

The arguments are fairseq-train's; training is fairseq's own data-parallel loop (its trainer, its
DistributedDataParallel wrapper, its sharded batch iterator). This module only turns what torchrun
puts into the environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) into fairseq's
options: ``--distributed-init-method env:// --distributed-world-size WORLD_SIZE --distributed-rank
RANK --device-id LOCAL_RANK --distributed-no-spawn --load-checkpoint-on-all-dp-ranks``, and, where
there is no GPU (or with ``--cpu``), ``--distributed-backend gloo --cpu``. fairseq's own launcher
cannot do that part on CPU: it computes device ids as ``rank % torch.cuda.device_count()`` (a
division by zero without a GPU), spawns ``min(torch.cuda.device_count(), world_size)`` processes
(none without a GPU), and defaults ``--distributed-world-size`` to the number of visible GPUs (1
without one, so every process would train alone).

``--load-checkpoint-on-all-dp-ranks``: every process reads the pretrained (or resumed) checkpoint
itself, through the plugin's allowlisted loading. Otherwise rank 0 would send it to the others as
a pickle (with fairseq's omegaconf configuration inside) that torch's ``weights_only`` loading
refuses.

On CPU, fairseq builds torch's DistributedDataParallel with ``device_ids=[device_id]``, which torch
refuses for a CPU module: in this process only (fairseq's files are not touched), the class
fairseq looks up is replaced by a subclass that passes no device ids for CPU modules; GPU modules
are left as they are.

Frozen parameters: torch's DDP (``--ddp-backend pytorch_ddp``, the default) puts only parameters
with ``requires_grad`` in its all-reduce buckets, and fairseq wraps the model after the plugin has
frozen it, so a PEFT run exchanges only the trained parameters' gradients. The masked-LM head that
classification never calls is frozen by the plugin, so no trained parameter goes unused and
``--find-unused-parameters`` is not needed. (``--ddp-backend legacy_ddp`` also skips frozen
parameters but sizes its buffer by all of them.)
"""
import logging
import os
import sys

TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE")


def _has_option(argv, name):
    return any(arg == name or arg.startswith(name + "=") for arg in argv)


def on_cpu(argv):
    import torch

    return _has_option(argv, "--cpu") or not torch.cuda.is_available()


def distributed_arguments(argv, environ=None, cpu=None):
    """fairseq-train arguments for this torchrun worker: ``argv`` plus the distributed options."""
    environ = os.environ if environ is None else environ
    missing = [name for name in TORCHRUN_VARIABLES if name not in environ]
    if missing:
        raise SystemExit(f"fairseq_plugins.distributed: error: {', '.join(missing)} not set: "
                         "start this module with torchrun (python -m torch.distributed.run)")
    cpu = on_cpu(argv) if cpu is None else cpu
    extra = ["--distributed-init-method", "env://",
             "--distributed-world-size", environ["WORLD_SIZE"],
             "--distributed-rank", environ["RANK"],
             "--device-id", environ.get("LOCAL_RANK", "0"),
             "--distributed-no-spawn", "--load-checkpoint-on-all-dp-ranks"]
    if not _has_option(argv, "--distributed-backend"):
        extra += ["--distributed-backend", "gloo" if cpu else "nccl"]
    if cpu and not _has_option(argv, "--cpu"):
        extra.append("--cpu")
    return list(argv) + extra


def allow_cpu_ddp():
    """Let fairseq's pytorch_ddp wrapper build torch's DDP around a CPU module."""
    from fairseq.models import distributed_fairseq_model

    base = distributed_fairseq_model.DistributedDataParallel
    if getattr(base, "allows_cpu_modules", False):
        return

    class DistributedDataParallel(base):
        allows_cpu_modules = True

        def __init__(self, module, device_ids=None, output_device=None, **kwargs):
            if all(p.device.type == "cpu" for p in module.parameters()):
                device_ids = output_device = None  # torch: CPU modules take no device ids
            super().__init__(module, device_ids=device_ids, output_device=output_device, **kwargs)

    distributed_fairseq_model.DistributedDataParallel = DistributedDataParallel


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    cpu = on_cpu(argv)
    sys.argv = [sys.argv[0]] + distributed_arguments(argv, cpu=cpu)
    if cpu:
        allow_cpu_ddp()
    # fairseq-train's log format (importing this package has already set up the root logger)
    logging.basicConfig(format="%(asctime)s | %(levelname)s | %(name)s | %(message)s", datefmt="%Y-%m-%d %H:%M:%S",
                        level=os.environ.get("LOGLEVEL", "INFO").upper(), stream=sys.stdout, force=True)
    from fairseq_cli.train import cli_main

    cli_main()


if __name__ == "__main__":
    main()
