"""How the plugin declares an option: once, with everything that is derived from it.

Each PEFT method lists its options in its own file (``peft/lora.py`` ...), the model lists the
options every method shares (``models/roberta_peft.py``). From one :class:`Option`:
  - fairseq's ``add_args`` and the architecture defaults (``add_to``, ``fill_default``);
  - the HuggingFace twin: ``hf`` names where the value lands there (``LoraConfig.r``,
    ``TrainingArguments.bf16``, ``trainable parameters`` ...), or ``no_twin`` says why it has none;
  - the export: a ``plugin_only`` option does not exist in fairseq's own RoBERTa and is dropped;
  - the recipes: the environment variable (``LORA_R``) and the GRID key (``lora_r``).

The value types below are argparse ``type`` functions: they check a value and keep it as fairseq
stores it, so a bad value is refused by fairseq-train's own parser in one line.
"""
import argparse
import os
from dataclasses import dataclass
from typing import Any, Callable, Optional


@dataclass(frozen=True)
class Option:
    name: str  # the attribute in fairseq's args, e.g. "lora_r"
    parse: Optional[Callable[[str], Any]]  # argparse type; None: a flag (store_true)
    default: Any
    help: str
    hf: Optional[str] = None  # where the HuggingFace twin puts the value (a key of peft_roberta.hf.methods.TARGETS)
    no_twin: str = ""  # why there is no HuggingFace counterpart (when hf is None)
    choices: Optional[tuple] = None
    metavar: Optional[str] = None
    recipe: Optional[str] = ""  # recipe variable; "" derives it from the name, None: recipes do not set it
    plugin_only: bool = True  # absent from fairseq's own roberta: exports drop it

    def __post_init__(self):
        if (self.hf is None) == (not self.no_twin):
            raise ValueError(f"option {self.name}: declare either hf (its HuggingFace target) or no_twin (why none)")

    @property
    def flag(self):
        return "--" + self.name.replace("_", "-")

    @property
    def recipe_variable(self):
        """The recipe's environment variable (``LORA_R``), or None when recipes do not set this option."""
        if self.recipe is None:
            return None
        return self.recipe or self.name.upper()

    def add_to(self, parser):
        text = f"{self.help} (default {self.default})"
        if self.parse is None:
            parser.add_argument(self.flag, action="store_true", help=text)
        else:
            parser.add_argument(self.flag, type=self.parse, choices=self.choices, metavar=self.metavar, help=text)

    def fill_default(self, args):
        """Set the default where ``args`` lacks the option (older checkpoints, the hub)."""
        if getattr(args, self.name, None) is None:
            setattr(args, self.name, self.default)

    def as_argv(self, value):
        """The fairseq-train words that set this option to ``value``."""
        if self.parse is None:
            return [self.flag] if value else []
        return [self.flag, str(value)]


# ------------------------------------------------------------------------------ value types
def positive_int(text):
    """An integer of at least 1."""
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive integer")
    return value


def positive_float(text):
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive number")
    return value


def probability(text):
    """A dropout probability in [0, 1)."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r}: expected a probability in [0, 1)") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a probability in [0, 1)")
    return value


def split_list(text):
    return [t.strip() for t in str(text).split(",") if t.strip()]


def comma_choices(allowed, all_word=None):
    """An argparse type for a non-empty comma list drawn from ``allowed`` (kept as the original string)."""

    def check(text):
        items = split_list(text)
        if all_word is not None and items == [all_word]:
            return text
        unknown = [t for t in items if t not in allowed]
        if unknown or not items:
            choices = ", ".join(([all_word] if all_word else []) + list(allowed))
            what = f"unknown {', '.join(unknown)}" if unknown else "empty list"
            raise argparse.ArgumentTypeError(f"{text!r}: {what}; choose a comma list of {choices}")
        if len(set(items)) != len(items):
            raise argparse.ArgumentTypeError(f"{text!r}: a name is listed twice")
        return text

    check.__name__ = "comma list"
    return check


def parse_layers(text):
    """'all' -> None; '0,1,4-7' -> [0, 1, 4, 5, 6, 7]. Ranges go upwards; indices start at 0."""
    if text in (None, "", "all"):
        return None
    layers = []
    for part in str(text).split(","):
        part = part.strip()
        try:
            first, dash, last = part.partition("-")
            first, last = int(first), int(last) if dash else int(first)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: expected 'all' or layer indices such as '0,1,4-7'") from None
        if first < 0:
            raise argparse.ArgumentTypeError(f"{text!r}: layer indices start at 0")
        if last < first:
            raise argparse.ArgumentTypeError(f"{text!r}: the range {part} runs backwards (write {last}-{first})")
        layers.extend(range(first, last + 1))
    return sorted(set(layers))


def layers_arg(text):
    """argparse type for --peft-layers: checked, kept as text."""
    parse_layers(text)
    return text


class OptionError(ValueError):
    """An option value that does not fit the model (a layer past the last, ...): one line naming the option."""


def report_option_errors_in_one_line():
    """An :class:`OptionError` that nobody caught ends the process with one line, not a traceback.

    fairseq-train builds the model outside any code of ours, so a check that needs the model (a
    layer past the last) cannot go through argparse; every other exception keeps its traceback.
    """
    import sys

    previous = sys.excepthook
    if getattr(previous, "reports_option_errors", False):
        return

    def hook(kind, error, traceback):
        if issubclass(kind, OptionError):
            print(f"{os.path.basename(sys.argv[0]) or 'fairseq'}: error: {error}", file=sys.stderr)
        else:
            previous(kind, error, traceback)

    hook.reports_option_errors = True
    sys.excepthook = hook
