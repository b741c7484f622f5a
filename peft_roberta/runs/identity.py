"""A run's identity: everything that shapes its result, and the id derived from it.

The identity of a run is
  - every fairseq-train option as fairseq itself resolves it (defaults filled in), less the few that
    cannot change a number (where logs and checkpoints go, how often to log, how many old
    checkpoints to keep, data-loading workers, ports) and the paths that the fingerprints replace;
  - the fingerprint of the binarized data (``fingerprint.json``: the input files' sha256, the
    preparation options, the tokenizer and the dictionary);
  - the model's fingerprint (sha256 of its weights and dictionary, its architecture and tokenizer);
  - the implementation (fairseq + plugin, or the HuggingFace twin) and whether the pretrained
    weights are loaded (``init``).
Two runs with the same identity are the same run: the second is skipped. Any difference is a new
run with its own id, its own checkpoint folder and its own row.
"""
import hashlib
import json
import math

# fairseq-train options that cannot change a run's numbers (or are replaced by a fingerprint)
NOT_SHAPING = frozenset({
    "data", "save_dir", "user_dir", "restore_file", "finetune_from_model",  # paths: fingerprints and init instead
    "tensorboard_logdir", "wandb_project", "aim_repo", "aim_run_hash", "azureml_logging", "log_file",
    "log_format", "log_interval", "no_progress_bar", "reset_logging",
    "num_workers", "data_buffer_size",
    "keep_best_checkpoints", "keep_interval_updates", "keep_interval_updates_pattern", "keep_last_epochs",
    "no_epoch_checkpoints", "no_last_checkpoints", "no_save_optimizer_state", "write_checkpoints_asynchronously",
    "distributed_init_method", "distributed_port", "distributed_rank", "device_id", "distributed_no_spawn",
    "heartbeat_timeout", "load_checkpoint_on_all_dp_ranks", "profile", "empty_cache_freq", "suppress_crashes",
    "plasma_path", "use_plasma_view", "no_seed_provided",
})


def plain(value):
    """A JSON value for an option (tuples become lists, anything unusual its text)."""
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def shaping_options(namespace) -> dict:
    """The resolved fairseq-train options that shape a run, as plain JSON values, sorted by name."""
    return {name: plain(value) for name, value in sorted(vars(namespace).items()) if name not in NOT_SHAPING}


def canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(value) -> str:
    return hashlib.sha256(canonical(value).encode("utf-8")).hexdigest()


def identity(impl, init, options, data_fingerprint, model_fingerprint) -> dict:
    return {"impl": impl, "init": init, "options": options, "data": data_fingerprint, "model": model_fingerprint}


def run_id(identity_value) -> str:
    """16 hex digits of the identity's sha256: the run's name in rows and checkpoint folders."""
    return digest(identity_value)[:16]


def group_id(identity_value) -> str:
    """The runs that differ only in their seed share this id (a group of the aggregated tables)."""
    without_seed = {**identity_value, "options": {k: v for k, v in identity_value["options"].items() if k != "seed"}}
    return digest(without_seed)[:16]
