"""What every command-line program here shares: one-line usage errors and argument types.

No fairseq or torch import: ``--help`` stays fast.
"""
import argparse
import sys


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as a single ``prog: error: ...`` line, exit code 2 (no usage dump)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def parser_for(doc, prog=None, **kwargs):
    """A OneLineParser whose description is a script docstring's first paragraph, the rest its epilog."""
    first, _, rest = (doc or "").strip().partition("\n\n")
    return OneLineParser(prog=prog, description=first, epilog=rest or None,
                         formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs)


def positive_int(text: str) -> int:
    """An integer of at least 1; anything else is a usage error naming the value."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got '{text}'")
    return value


def fail(prog: str, message, code: int = 2) -> int:
    """Print ``prog: error: message`` on stderr; returns ``code`` for ``main`` to return."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    return code
