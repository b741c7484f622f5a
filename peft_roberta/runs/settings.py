"""Every setting a recipe takes, declared once.

A recipe setting is an environment variable (``LR=5e-4 bash recipes/sst2_lora.sh``), a GRID key
(``GRID="lr=1e-3,5e-4"``, the lower-case name) and an entry of a recipe's ``SETTINGS`` (its own
defaults). Two kinds:
  - the training settings below (learning rate, batch, schedule, data size ...), which the run
    turns into fairseq-train options (``runs.plan``);
  - one setting per plugin option that recipes may set (``LORA_R`` ...), derived from the plugin's
    own declarations (``fairseq_plugins``' ``Option.recipe_variable``): a new plugin option is a
    new recipe setting without an edit here.
Values are checked by the same functions that check fairseq-train's options, so ``LR=abc`` is
refused, in one line naming the variable, before any work starts.
"""
import argparse
import ast
import math
from dataclasses import dataclass
from typing import Any, Callable, Optional

from ..errors import UserError


@dataclass(frozen=True)
class Setting:
    name: str  # the GRID key; the environment variable is NAME in upper case (or ``variable``)
    parse: Callable[[str], Any]
    help: str
    method: Optional[str] = None  # the one --peft method it acts on (None: every method)
    grid: bool = True  # can be swept (MAX_TRAIN cannot: the data is prepared once per recipe)
    option: Any = None  # the plugin Option it sets, if any
    variable: Optional[str] = None
    default: Any = None  # a plugin option's own default (what a run gets when no layer sets it)

    @property
    def env(self):
        return self.variable or self.name.upper()

    def check(self, text, where):
        """The parsed value of ``text``; a bad one is a UserError naming ``where`` (e.g. ``LR=abc``)."""
        if text is None or text == "":
            return None
        try:
            return self.parse(str(text))
        except (argparse.ArgumentTypeError, ValueError, TypeError) as err:
            raise UserError(f"{where}: {err}") from None


# ------------------------------------------------------------------------------ value types
def _number(text, kind, low, low_open, high=math.inf, high_open=True, what=""):
    try:
        value = kind(text)
    except ValueError:
        raise ValueError(f"expected {what}") from None
    if math.isnan(value) or value < low or (low_open and value == low) or value > high or (high_open and value == high):
        raise ValueError(f"expected {what}")
    return value


def positive_float(text):
    return _number(text, float, 0, True, what="a positive number")


def non_negative_float(text):
    return _number(text, float, 0, False, what="a number of at least 0")


def positive_int(text):
    return _number(text, int, 1, False, what="a positive integer")


def non_negative_int(text):
    return _number(text, int, 0, False, what="an integer of at least 0")


def fraction(text):
    return _number(text, float, 0, False, 1, True, what="a fraction in [0, 1)")


def adam_betas(text):
    """fairseq's ``--adam-betas`` text, e.g. ``(0.9,0.98)``: two numbers in [0, 1)."""
    try:
        betas = ast.literal_eval(text)
        ok = len(betas) == 2 and all(0 <= float(b) < 1 for b in betas)
    except (ValueError, SyntaxError, TypeError):
        ok = False
    if not ok:
        raise ValueError("expected '(beta1,beta2)' with both in [0, 1), e.g. '(0.9,0.98)'")
    return text


TRAINING_SETTINGS = (
    Setting("lr", positive_float, "peak learning rate"),
    Setting("batch", positive_int, "total batch size in sentences (split over the processes)"),
    Setting("epochs", positive_int, "epochs, when MAX_UPDATES is empty"),
    Setting("max_updates", positive_int, "number of updates (empty: EPOCHS epochs of the training split)"),
    Setting("min_updates", non_negative_int, "at least this many updates: more epochs than EPOCHS when the "
            "training split is small (custom.sh's quick profile: 400; 0 turns the rule off)"),
    Setting("warmup", fraction, "warmup as a fraction of the updates"),
    Setting("warmup_updates", non_negative_int, "warmup updates (overrides WARMUP)"),
    Setting("weight_decay", non_negative_float, "Adam's weight decay"),
    Setting("dropout", fraction, "dropout and attention dropout"),
    Setting("adam_betas", adam_betas, "Adam's betas, e.g. (0.9,0.98)"),
    Setting("adam_eps", positive_float, "Adam's epsilon"),
    Setting("max_train", positive_int, "training examples kept (a seeded sample; empty: all)", grid=False),
    Setting("max_positions", positive_int, "tokens kept per example (longer ones are cut; empty: the model's)"),
    Setting("validations", positive_int, "validations (and best-checkpoint choices) per epoch"),
)


def _plugin_settings():
    """One setting per plugin option that recipes may set, with the plugin's own value check."""
    from fairseq_plugins.models.roberta_peft import MODEL_OPTIONS
    from fairseq_plugins.peft import METHODS

    owner = {option.name: None for option in MODEL_OPTIONS}
    owner.update({option.name: method for method, cls in METHODS.items() for option in cls.options})
    options = list(MODEL_OPTIONS) + [option for cls in METHODS.values() for option in cls.options]
    settings = []
    for option in options:
        if option.recipe_variable is None:
            continue
        if option.parse is None:  # a switch: LORA_DORA=1 turns it on
            parse = switch
        else:
            parse = option.parse if option.choices is None else _choice(option.parse, option.choices)
        settings.append(Setting(option.recipe_variable.lower(), parse, option.help, method=owner[option.name],
                                option=option, variable=option.recipe_variable, default=option.default))
    return tuple(settings)


def switch(text):
    """A recipe variable for an on/off option: 1/true/yes/on or 0/false/no/off."""
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{text!r}: give 1 or 0")


def _choice(parse, choices):
    def check(text):
        value = parse(text)
        if value not in choices:
            raise ValueError(f"{text!r}: choose one of {', '.join(map(str, choices))}")
        return value

    return check


# A recipe's METHOD: the plugin's --peft and the plugin settings it fixes (a variant of a method is a
# method with options, e.g. DoRA is LoRA with lora_dora); a new recipe method is one line here.
RECIPE_METHODS = {
    "lora": ("lora", {}),
    "bitfit": ("bitfit", {}),
    "adapter": ("adapter", {}),
    "ia3": ("ia3", {}),
    "full": ("none", {}),
    "dora": ("lora", {"lora_dora": True}),
    "rslora": ("lora", {"lora_rslora": True}),
    "prefix": ("prefix", {}),
    "parallel": ("adapter", {"adapter_type": "parallel"}),
    "mam": ("mam", {}),
}


def plugin_method(method):
    """The plugin's --peft of a recipe METHOD."""
    return RECIPE_METHODS[method][0]


def all_settings():
    """Every recipe setting: the training settings, then the plugin's."""
    return TRAINING_SETTINGS + _plugin_settings()


def by_name():
    return {setting.name: setting for setting in all_settings()}


# ------------------------------------------------------------------------------ profiles
# quick: CPU-sized runs of the default MiniLM; paper: the settings of the papers and reports.
# Rules apply in order, a later one overriding an earlier one; "*" matches anything.
DEFAULTS = dict(batch=32, epochs=1, warmup=0.06, weight_decay=0.01, dropout=0.1, adam_betas="(0.9,0.98)",
                adam_eps=1e-6, validations=4, lora_r=8, lora_alpha=16, lora_targets="q_proj,v_proj",
                bitfit_biases="all", adapter_dim=64, adapter_type="houlsby", ia3_targets="k_proj,v_proj,fc2",
                head="all")
PROFILE_RULES = (  # (profile, task, method, settings)
    ("quick", "*", "lora", dict(lr=2e-3)),
    ("quick", "*", "bitfit", dict(lr=3e-3)),
    ("quick", "*", "adapter", dict(lr=1e-3)),
    ("quick", "*", "ia3", dict(lr=5e-3)),
    ("quick", "*", "full", dict(lr=5e-5)),
    ("quick", "*", "dora", dict(lr=2e-3)),  # LoRA's: a fresh DoRA moves as LoRA does, plus its magnitudes
    ("quick", "*", "rslora", dict(lr=7e-4)),  # LoRA's step: its scale alpha/sqrt(r) is sqrt(8) times alpha/r at r 8
    ("quick", "*", "prefix", dict(lr=1e-2)),  # the prefixes are N(0, 1) vectors, not small weight changes
    ("quick", "*", "parallel", dict(lr=1e-3)),  # the adapter's, with He et al.'s scaling 4 (below)
    ("quick", "*", "mam", dict(lr=2e-3)),  # between the prefixes' 1e-2 and the large parallel adapter's 1e-3
    ("*", "*", "parallel", dict(adapter_scaling=4.0)),  # He et al.'s scaled parallel adapter
    ("paper", "*", "lora", dict(lr=5e-4, batch=16, epochs=60, lora_alpha=8, weight_decay=0.1)),  # LoRA paper
    ("paper", "*", "bitfit", dict(lr=1e-3, batch=8, epochs=16)),  # BitFit's code
    ("paper", "*", "adapter", dict(lr=9e-5, batch=16, epochs=70, warmup_updates=70, dropout=0.3)),  # report 004
    ("paper", "*", "ia3", dict(lr=3e-3, batch=16, epochs=10)),  # report 003's 10 epochs
    ("paper", "*", "full", dict(lr=1e-5, batch=32, epochs=10, weight_decay=0.1)),  # fairseq's GLUE recipe
    ("paper", "*", "dora", dict(lr=5e-4, batch=16, epochs=60, lora_alpha=8, weight_decay=0.1)),  # LoRA paper's
    ("paper", "*", "rslora", dict(lr=2e-4, batch=16, epochs=60, lora_alpha=8, weight_decay=0.1)),  # its lr / sqrt(8)
    # no setting of these papers for RoBERTa classification here: the quick learning rate for 10 epochs
    ("paper", "*", "prefix", dict(lr=1e-2, batch=32, epochs=10)),
    ("paper", "*", "parallel", dict(lr=1e-3, batch=32, epochs=10)),
    ("paper", "*", "mam", dict(lr=2e-3, batch=32, epochs=10)),
    ("paper", "*", "*", dict(validations=1)),  # validate at the end of every epoch
    ("quick", "sst2", "*", dict(max_train=32000)),
    ("quick", "imdb", "*", dict(max_train=2000, max_positions=128)),
    ("quick", "mrpc", "*", dict(epochs=3, batch=16)),
    ("quick", "restaurant", "*", dict(epochs=3, batch=16)),
    ("paper", "sst2", "full", dict(max_updates=20935, warmup_updates=1256)),
    ("paper", "mrpc", "full", dict(batch=16, max_updates=2296, warmup_updates=137)),
    ("paper", "mrpc", "lora", dict(lr=4e-4, epochs=30)),
    ("paper", "restaurant", "full", dict(lr=9e-5, batch=16, epochs=70, warmup_updates=70, dropout=0.3,
                                         weight_decay=0.01)),
    ("paper", "imdb", "*", dict(max_positions=50, max_train=2000)),  # report 003: first 50 tokens of a subset
    # the ALTeGraD lab (report 001): RoBERTa-small, batch 8, lr 1e-5, 5 epochs, 6% warmup, wd 0.01
    ("*", "cls_books", "*", dict(lr=1e-5, batch=8, epochs=5, warmup=0.06, weight_decay=0.01, max_positions=256,
                                 validations=1)),
    ("quick", "cls_books", "*", dict(epochs=3)),
    # your own data (custom.sh): at least 3 epochs and 400 updates, so that a small dataset learns
    ("quick", "custom", "*", dict(epochs=3, min_updates=400)),
    # GLUE, quick: sized so that SST-2, MRPC, CoLA and STS-B x 3 seeds fit in an hour on 2 CPU cores
    ("quick", "cola", "*", dict(epochs=3)),
    ("quick", "stsb", "*", dict(epochs=3, batch=16)),
    ("quick", "mnli", "*", dict(max_train=32000)),
    ("quick", "qnli", "*", dict(max_train=32000)),
    ("quick", "qqp", "*", dict(max_train=32000)),
    ("quick", "rte", "*", dict(epochs=3, batch=16)),
    # GLUE, paper: the LoRA paper's RoBERTa-base settings per task (r 8, alpha 8 on q and v, 6% warmup,
    # weight decay 0.1, 512 positions): batch, epochs, learning rate
    ("paper", "mnli", "lora", dict(batch=16, epochs=30, lr=5e-4)),
    ("paper", "sst2", "lora", dict(batch=16, epochs=60, lr=5e-4)),
    ("paper", "mrpc", "lora", dict(batch=16, epochs=30, lr=4e-4)),
    ("paper", "cola", "lora", dict(batch=32, epochs=80, lr=4e-4)),
    ("paper", "qnli", "lora", dict(batch=32, epochs=25, lr=4e-4)),
    ("paper", "qqp", "lora", dict(batch=16, epochs=25, lr=5e-4)),
    ("paper", "rte", "lora", dict(batch=32, epochs=80, lr=5e-4)),
    ("paper", "stsb", "lora", dict(batch=16, epochs=40, lr=4e-4)),
)


def profile_defaults(profile, task, method):
    """The settings a profile gives a task and method, before the recipe's and the user's."""
    values = dict(DEFAULTS)
    for rule_profile, rule_task, rule_method, settings in PROFILE_RULES:
        if rule_profile in ("*", profile) and rule_task in ("*", task) and rule_method in ("*", method):
            values.update(settings)
    return values
