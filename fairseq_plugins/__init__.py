"""fairseq user directory: parameter-efficient fine-tuning for RoBERTa.

``fairseq-train --user-dir fairseq_plugins --arch roberta_peft_base --peft lora ...``

Laid out as fairseq lays out its own code (and loads a user directory): ``models/`` registers the
``roberta_peft`` model and its architectures, ``tasks/`` the ``sentence_prediction_bucketed`` task
(length-bucketed batches), ``modules/`` holds the encoder, ``peft/`` one file per method,
``checkpoints/`` the allowlisted loading, the PEFT-only file and the export; ``options.py`` is how
every option is declared. Importing the package registers the model and the task, allows
fairseq's checkpoint types under torch's ``weights_only`` loading, writes a PEFT-only file beside
the best checkpoint, and reports an option that does not fit the model in one line.
"""
import logging

# fairseq's speech tasks announce a missing tensorboardX at import; text tasks never need it.
logging.getLogger("fairseq.tasks.text_to_speech").setLevel(logging.WARNING)

from . import models, tasks  # noqa: E402,F401  (registration)
from .checkpoints import hooks  # noqa: E402
from .models.roberta_peft import RobertaPeftModel  # noqa: E402
from .options import report_option_errors_in_one_line  # noqa: E402

hooks.install()
report_option_errors_in_one_line()

__all__ = ["RobertaPeftModel"]
