"""What every PEFT method provides, and the helpers they share.

A method is one class in one file, always with the same four parts:
  - ``options``: its command-line options, each declared once (:class:`fairseq_plugins.options.Option`);
  - ``apply(model)``: wrap the encoder's layers (LoRA, IA3, adapters) or leave them (BitFit);
  - ``trainable_groups(model)``: which encoder parameters it trains, by group, for the log;
  - ``merge(model)`` / ``unmerge(model)``: fold its parameters into the base weights, where it can.
Parameters a method adds carry one of its ``param_prefixes`` in their names, so checkpoints can
tell them apart from the base model's. A new method is one file plus one entry in ``peft/__init__.py``.

A switch (a flag option) turns on a variant of the method that declares it (``--lora-dora``); given
with another ``--peft`` it would do nothing, so building the method refuses it (:class:`OptionError`,
one line in fairseq-train). Valued options of other methods are left alone, as they always were.
"""
from ..modules.encoder import encoder_layers
from ..options import OptionError, parse_layers

# Where each target lives inside an encoder layer (names as in fairseq's checkpoints).
LINEAR_TARGETS = {
    "q_proj": "self_attn.q_proj",
    "k_proj": "self_attn.k_proj",
    "v_proj": "self_attn.v_proj",
    "out_proj": "self_attn.out_proj",
    "fc1": "fc1",
    "fc2": "fc2",
}


def check_mergeable(module):
    """Merging into weights narrower than the method's parameters would round the merged update."""
    params = list(module.parameters(recurse=False))
    frozen = min((p.dtype.itemsize for p in params if not p.requires_grad), default=None)
    trained = max((p.dtype.itemsize for p in params if p.requires_grad), default=None)
    if frozen and trained and frozen < trained:
        raise RuntimeError("the frozen weights are narrower than the trained ones: widen them before merging "
                           "(model.store_frozen_weights(torch.float32), as the hub does)")


class PeftMethod:
    """Full fine-tuning shape of a method; subclasses override what differs."""

    name = None
    options = ()
    param_prefixes = ()
    can_merge = False

    def __init__(self, args):
        self.layers = parse_layers(getattr(args, "peft_layers", "all"))
        self.refuse_foreign_switches(args)

    def refuse_foreign_switches(self, args):
        """An OptionError for a flag of another method that is on (``--lora-dora`` with ``--peft bitfit``)."""
        from . import METHODS  # the registry imports this module

        own = {option.name for option in self.options}
        for method, cls in METHODS.items():
            for option in cls.options:
                if method != self.name and option.name not in own and option.parse is None \
                        and getattr(args, option.name, None):
                    raise OptionError(f"{option.flag} only acts with --peft {method} (here --peft {self.name})")

    @classmethod
    def add_args(cls, parser):
        for option in cls.options:
            option.add_to(parser)

    @classmethod
    def set_defaults(cls, args):
        for option in cls.options:
            option.fill_default(args)

    def settings(self):
        """The method's settings, as written into the PEFT-only file and the log."""
        return {"method": self.name, "layers": self.layers}

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
        past = [i for i in wanted if i >= len(layers)]
        if past:
            raise OptionError(f"--peft-layers: layer {past[0]} does not exist "
                              f"(the model has {len(layers)} layers, 0-{len(layers) - 1})")
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
