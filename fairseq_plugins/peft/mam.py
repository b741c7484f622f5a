"""The MAM adapter (He et al. 2022, "Towards a unified view of parameter-efficient transfer learning"):
prefix tuning on every selected layer's attention plus a scaled parallel adapter beside its FFN.

It is :class:`~.prefix.PrefixTuning` and :class:`~.adapter.Adapter` (type ``parallel``, no
LayerNorm trained) applied together; its options are theirs under ``--mam-`` names, with He et al.'s
defaults: 30 prefix vectors, adapter width 512, scaling 4. He et al. reparametrise the prefixes
with an MLP of width 800 (``--mam-prefix-projection --mam-prefix-hidden-size 800``); the default
here trains them directly, as ``--peft prefix`` does. The adapter's activation is ReLU.
Neither part merges into RoBERTa's weights (``can_merge = False``); ``merge`` folds the prefix MLP.
"""
import argparse
import dataclasses

from .adapter import Adapter
from .base import PeftMethod
from .prefix import PrefixTuning

NO_TWIN = "peft has neither a parallel adapter nor, for transformers 5's BERT/RoBERTa classifiers, prefix tuning"
PREFIX_DEFAULTS = {"prefix_length": 30}
ADAPTER_DEFAULTS = {"adapter_dim": 512, "adapter_scaling": 4.0}


def _mam(option, defaults):
    """The MAM twin of a prefix or adapter option: ``mam_`` name, MAM's default."""
    return dataclasses.replace(option, name="mam_" + option.name, default=defaults.get(option.name, option.default),
                               help=option.help.replace("--prefix-", "--mam-prefix-"), no_twin=NO_TWIN)


class Mam(PeftMethod):
    name = "mam"
    param_prefixes = PrefixTuning.param_prefixes + Adapter.param_prefixes
    can_merge = False

    options = tuple(_mam(o, PREFIX_DEFAULTS) for o in PrefixTuning.options) + tuple(
        _mam(o, ADAPTER_DEFAULTS) for o in Adapter.options if o.name in ADAPTER_DEFAULTS)

    def __init__(self, args):
        super().__init__(args)
        prefix_names = [o.name for o in PrefixTuning.options]
        prefix_args = {name: getattr(args, "mam_" + name) for name in prefix_names}
        self.prefix = PrefixTuning(argparse.Namespace(peft_layers=args.peft_layers, **prefix_args),
                                   flags={name: "--mam-" + name.replace("_", "-") for name in prefix_names})
        self.adapter = Adapter(argparse.Namespace(
            peft_layers=args.peft_layers, adapter_type="parallel", adapter_dim=args.mam_adapter_dim,
            adapter_activation="relu", adapter_layer_norms="none", adapter_scaling=args.mam_adapter_scaling))

    def settings(self):
        prefix, adapter = self.prefix.settings(), self.adapter.settings()
        return {**super().settings(), **{f"prefix_{k}": prefix[k] for k in ("length", "projection", "hidden_size")},
                **{f"adapter_{k}": adapter[k] for k in ("type", "dim", "activation", "scaling")}}

    def apply(self, model):
        self.prefix.apply(model)
        self.adapter.apply(model)

    def trainable_groups(self, model):
        return {**self.prefix.trainable_groups(model), **self.adapter.trainable_groups(model)}

    def merge(self, model):
        self.prefix.merge(model)

    def unmerge(self, model):
        self.prefix.unmerge(model)
