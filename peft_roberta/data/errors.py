"""The two ways preparing data fails on purpose."""
from ..errors import UserError


class DataError(UserError, ValueError):
    """Bad input or options. The message is one complete line, starting with the file
    (``path:line:``) or the option it is about."""


class ToolError(RuntimeError):
    """An external tool (fairseq-preprocess, the GPT-2 encoder) failed on input we had accepted."""
