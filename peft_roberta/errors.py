"""The error every user-facing command reports as one line (never a traceback)."""


class UserError(Exception):
    """Bad input, a bad option or a missing file: the message is one complete line that names the
    file (``path:line:``), the option or the variable it is about."""
