"""fairseq user directory: parameter-efficient fine-tuning for RoBERTa.

``fairseq-train --user-dir fairseq_plugins --arch roberta_peft_base --peft lora ...``
Importing it registers the ``roberta_peft`` model and its architectures and the
``sentence_prediction_bucketed`` task (length-bucketed batches), allows fairseq's
checkpoint types under torch's ``weights_only`` loading, and writes a PEFT-only file beside the
best checkpoint.
"""
import logging

# fairseq's speech tasks announce a missing tensorboardX at import; text tasks never need it.
logging.getLogger("fairseq.tasks.text_to_speech").setLevel(logging.WARNING)

from . import fairseq_hooks, tasks  # noqa: E402,F401
from .model import RobertaPeftModel  # noqa: E402

fairseq_hooks.install()

__all__ = ["RobertaPeftModel"]
