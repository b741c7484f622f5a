"""argparse value types shared by the scripts (no fairseq import: the scripts' --help stays fast)."""
import argparse


def positive_int(text: str) -> int:
    """An integer of at least 1; anything else is a usage error naming the value."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got '{text}'")
    return value
