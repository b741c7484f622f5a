"""What every PEFT method provides, and the small helpers they share.

A method is one class with the same four parts:
  - ``add_args(parser)``: its command-line options (defaults in ``set_defaults``);
  - ``apply(model)``: wrap the encoder's layers (LoRA, IA3, adapters) or leave them (BitFit);
  - ``trainable_groups(model)``: which encoder parameters it trains, by group, for the log;
  - ``merge(model)`` / ``unmerge(model)``: fold its parameters into the base weights, where it can.
Parameters a method adds carry one of its ``param_prefixes`` in their names, so checkpoints can
tell them apart from the base model's.
"""
import argparse

from ..encoder import encoder_layers

# Where each target lives inside an encoder layer (names as in fairseq's checkpoints).
LINEAR_TARGETS = {
    "q_proj": "self_attn.q_proj",
    "k_proj": "self_attn.k_proj",
    "v_proj": "self_attn.v_proj",
    "out_proj": "self_attn.out_proj",
    "fc1": "fc1",
    "fc2": "fc2",
}


class PeftMethod:
    """Full fine-tuning shape of a method; subclasses override what differs."""

    name = None
    param_prefixes = ()
    can_merge = False

    def __init__(self, args):
        self.layers = parse_layers(getattr(args, "peft_layers", "all"))

    @staticmethod
    def add_args(parser):
        """Add the method's options to fairseq's model argument parser."""

    @staticmethod
    def set_defaults(args):
        """Fill the method's options that are missing (an architecture function calls this)."""

    def options(self):
        """The method's settings, as written into the PEFT-only file and the log."""
        return {"method": self.name}

    def apply(self, model):
        """Wrap the model's layers in place."""

    def trainable_groups(self, model):
        """Map of group label -> names of the encoder parameters this method trains."""
        raise NotImplementedError

    def merge(self, model):
        raise NotImplementedError(f"--peft {self.name} cannot be merged into the base weights")

    def unmerge(self, model):
        raise NotImplementedError(f"--peft {self.name} cannot be merged into the base weights")

    # shared helpers --------------------------------------------------------------------------
    def selected_layers(self, model):
        """(index, layer) for the layers named by --peft-layers."""
        layers = encoder_layers(model)
        wanted = range(len(layers)) if self.layers is None else self.layers
        for index in wanted:
            if index >= len(layers):
                raise ValueError(f"--peft-layers: layer {index} does not exist (the model has {len(layers)})")
        return [(i, layers[i]) for i in wanted]

    def replace_targets(self, model, targets, wrap):
        """Replace each target Linear of the selected layers by ``wrap(linear)``."""
        for _, layer in self.selected_layers(model):
            for target in targets:
                parent_path, _, attr = LINEAR_TARGETS[target].rpartition(".")
                parent = layer.get_submodule(parent_path) if parent_path else layer
                setattr(parent, attr, wrap(getattr(parent, attr)))

    def wrapped_modules(self, model, cls):
        """Every module of type ``cls`` in the model."""
        return [m for m in model.modules() if isinstance(m, cls)]

    def params_with_prefix(self, model):
        """Names of the parameters this method added."""
        return [
            name for name, _ in model.named_parameters()
            if any(name.rsplit(".", 1)[-1].startswith(p) for p in self.param_prefixes)
        ]


def parse_layers(text):
    """'all' -> None; '0,1,4-7' -> [0, 1, 4, 5, 6, 7]."""
    if text in (None, "", "all"):
        return None
    layers = []
    for part in str(text).split(","):
        part = part.strip()
        try:
            if "-" in part:
                first, last = (int(x) for x in part.split("-"))
                layers.extend(range(first, last + 1))
            else:
                layers.append(int(part))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r}: expected 'all' or layer indices such as '0,1,4-7'"
            ) from None
    if any(i < 0 for i in layers):
        raise argparse.ArgumentTypeError(f"{text!r}: layer indices start at 0")
    return sorted(set(layers))


def comma_choices(allowed, all_word=None):
    """An argparse type for a comma list drawn from ``allowed`` (kept as the original string)."""

    def check(text):
        items = [t.strip() for t in str(text).split(",") if t.strip()]
        if all_word is not None and items == [all_word]:
            return text
        unknown = [t for t in items if t not in allowed]
        if unknown or not items:
            choices = ", ".join(([all_word] if all_word else []) + list(allowed))
            raise argparse.ArgumentTypeError(f"{text!r}: choose a comma list of {choices}")
        return text

    return check


def positive_int(text):
    """argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive integer")
    return value


def split_list(text):
    return [t.strip() for t in str(text).split(",") if t.strip()]


def layers_arg(text):
    """argparse type for --peft-layers: validated, kept as text."""
    parse_layers(text)
    return text
