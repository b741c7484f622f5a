"""The places where the plugin steps into fairseq's checkpoint handling.

fairseq has no plugin hook for them, so each wraps a function that fairseq's trainer and hub look
up at call time:
- ``load_checkpoint_to_cpu``: loads under the checkpoint allowlist; a refused file gives a one-line
  reason instead of torch's multi-paragraph unpickling error.
- ``save_checkpoint``: whenever it has just written ``checkpoint_best.pt`` for a PEFT model, also
  writes ``checkpoint_best.peft.pt`` (the trained parameters only) beside it.
- ``PathManager.copy``: fairseq writes one checkpoint atomically and *copies* it to
  ``checkpoint_best.pt`` / ``checkpoint_last.pt``; a run killed during that copy would leave a
  truncated ``checkpoint_last.pt`` that the rerun cannot resume from. Local copies go through a
  temporary file and a rename.
"""
import functools
import logging
import os
import pickle
import shutil

from fairseq import checkpoint_utils
from fairseq.file_io import PathManager

from .peft_file import PEFT_FILE_SUFFIX, replaced_atomically, save_peft_file
from .safety import CheckpointError, allow_fairseq_checkpoints, refusal_message

logger = logging.getLogger(__name__)


def _guard_loading(load):
    @functools.wraps(load)
    def load_checkpoint_to_cpu(path, *args, **kwargs):
        try:
            return load(path, *args, **kwargs)
        except pickle.UnpicklingError as err:
            raise CheckpointError(refusal_message(path, err)) from None

    load_checkpoint_to_cpu.wrapped_by_fairseq_plugins = True
    return load_checkpoint_to_cpu


def _file_stamp(path):
    try:
        stat = os.stat(path)
        return stat.st_mtime_ns, stat.st_size
    except FileNotFoundError:
        return None


def _also_save_peft_file(save):
    @functools.wraps(save)
    def save_checkpoint(cfg, trainer, epoch_itr, val_loss):
        best = os.path.join(cfg.save_dir, f"checkpoint_best{trainer.checkpoint_suffix}.pt")
        before = _file_stamp(best)
        result = save(cfg, trainer, epoch_itr, val_loss)
        model = trainer.get_model()
        if (
            hasattr(model, "peft")
            and model.peft.name != "none"
            and trainer.should_save_checkpoint_on_current_rank
            and _file_stamp(best) not in (None, before)
        ):
            target = best[: -len(".pt")] + PEFT_FILE_SUFFIX
            save_peft_file(model, trainer.cfg, target, base_checkpoint=base_of(cfg))
            logger.info("Saved the PEFT-only file %s (%.1f kB)", target, os.path.getsize(target) / 1024)
        return result

    save_checkpoint.wrapped_by_fairseq_plugins = True
    return save_checkpoint


def base_of(cfg):
    """The pretrained checkpoint a run started from: --finetune-from-model, or a --restore-file that is not
    the run's own checkpoint_last.pt; None for a random start."""
    if getattr(cfg, "finetune_from_model", None):
        return cfg.finetune_from_model
    restore = cfg.restore_file
    if restore and os.path.basename(restore) != "checkpoint_last.pt" and os.path.isfile(restore):
        return restore
    return None


def _atomic_copies(copy):
    @functools.wraps(copy)
    def atomic_copy(src_path, dst_path, overwrite=False):
        if not os.path.isfile(src_path) or "://" in str(dst_path):
            return copy(src_path, dst_path, overwrite=overwrite)
        with replaced_atomically(dst_path) as tmp:
            shutil.copyfile(src_path, tmp)
        return True

    atomic_copy.wrapped_by_fairseq_plugins = True
    return atomic_copy


def install():
    """Register the checkpoint allowlist and wrap fairseq's load/save functions (once per process)."""
    allow_fairseq_checkpoints()
    if not getattr(checkpoint_utils.load_checkpoint_to_cpu, "wrapped_by_fairseq_plugins", False):
        checkpoint_utils.load_checkpoint_to_cpu = _guard_loading(checkpoint_utils.load_checkpoint_to_cpu)
    if not getattr(checkpoint_utils.save_checkpoint, "wrapped_by_fairseq_plugins", False):
        checkpoint_utils.save_checkpoint = _also_save_peft_file(checkpoint_utils.save_checkpoint)
    if not getattr(PathManager.copy, "wrapped_by_fairseq_plugins", False):
        PathManager.copy = staticmethod(_atomic_copies(PathManager.copy))
