"""Tasks of the user directory (fairseq imports every module here when it loads ``--user-dir``)."""
from . import sentence_prediction_bucketed  # noqa: F401
