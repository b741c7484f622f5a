"""Models of the user directory (fairseq imports every module here when it loads ``--user-dir``)."""
from . import roberta_peft  # noqa: F401
