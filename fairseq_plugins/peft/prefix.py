"""Prefix tuning (Li & Liang 2021): P trainable key and value vectors in front of every selected layer's
self-attention.

Every query attends to the prefix keys and values as well as to the sequence's own; the prefixes
are not query positions, so the layer's output keeps the sequence's length and positions, padding
masks the sequence's padded keys only, and the classification head still reads position 0 of the
real sequence (the last layer, computed for position 0 only, attends to the prefixes too). The
prefixes live in model space, after the key and value projections, split into heads as the keys are.

Options follow peft's ``PrefixTuningConfig``: ``--prefix-length`` (``num_virtual_tokens``),
``--prefix-projection`` (``prefix_projection``) with ``--prefix-hidden-size`` (``encoder_hidden_size``,
0: the model width, peft's default).

Without projection each selected layer trains ``self_attn.prefix.prefix_key`` and ``.prefix_value``
(P x d each), drawn from N(0, 1) as peft's prefix embedding. With projection (Li & Liang's
reparametrisation, peft's layout) one MLP shared by the layers produces them during training:
``prefix_tokens`` (P x d, N(0, 1)) -> Linear(d, h) -> tanh -> Linear(h, layers * 2 * d), whose
output columns hold layer i's keys at ``[2i d, (2i+1) d)`` and its values at ``[(2i+1) d, (2i+2) d)``
(Linear layers initialised as torch's). The MLP lives at ``encoder.sentence_encoder.prefix_encoder``.
What the MLP computes is also kept in the layers' ``prefix_key``/``prefix_value`` (frozen then):
they are refreshed whenever the model's state dict is taken, so every checkpoint and the PEFT-only
file hold the computed prefixes next to the MLP (the MLP is what training resumes from; the
prefixes are what peft saves, the MLP folded away). ``merge`` folds the MLP: the layers use the
stored prefixes from then on (peft's inference mode), ``unmerge`` returns to the MLP.

The prefixes are extra keys and values, not a change of RoBERTa's weights: ``can_merge`` is False
and the export to a plain fairseq checkpoint refuses the method, as it refuses adapters.

Departure from peft on HuggingFace BERT/RoBERTa (transformers 4): there, the prefixes travel as a
generation cache, which moves the real tokens' position ids up by P; here the tokens keep their
positions. (peft 0.21 with transformers 5 refuses BERT/RoBERTa classifiers altogether.)
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..options import Option, OptionError, positive_int
from .base import PeftMethod

NO_TWIN = ("peft 0.21's prefix tuning hands the prefixes over as past_key_values, which transformers 5's "
           "BERT and RoBERTa classifiers no longer accept")


class PrefixEncoder(nn.Module):
    """The MLP that produces every selected layer's prefixes (``--prefix-projection``)."""

    def __init__(self, length, width, hidden, layers, factory):
        super().__init__()
        self.width = width
        self.prefix_tokens = nn.Parameter(torch.randn(length, width, **factory))
        self.prefix_down = nn.Parameter(torch.empty(hidden, width, **factory))
        self.prefix_down_bias = nn.Parameter(torch.empty(hidden, **factory))
        self.prefix_up = nn.Parameter(torch.empty(layers * 2 * width, hidden, **factory))
        self.prefix_up_bias = nn.Parameter(torch.empty(layers * 2 * width, **factory))
        for weight, bias in ((self.prefix_down, self.prefix_down_bias), (self.prefix_up, self.prefix_up_bias)):
            nn.init.kaiming_uniform_(weight, a=math.sqrt(5))  # as torch's nn.Linear
            nn.init.uniform_(bias, -1 / math.sqrt(weight.shape[1]), 1 / math.sqrt(weight.shape[1]))

    def forward(self, slot):
        """(keys, values) of the ``slot``-th selected layer, P x d each."""
        hidden = torch.tanh(F.linear(self.prefix_tokens, self.prefix_down, self.prefix_down_bias))
        rows = slice(2 * slot * self.width, 2 * (slot + 1) * self.width)
        keys_values = F.linear(hidden, self.prefix_up[rows], self.prefix_up_bias[rows])
        return keys_values[:, : self.width], keys_values[:, self.width:]


class PrefixKeyValues(nn.Module):
    """One layer's prefix (``SelfAttention.prefix``): its keys and values, trained or produced by the MLP."""

    def __init__(self, length, width, factory, encoder=None, slot=0):
        super().__init__()
        self.prefix_key = nn.Parameter(torch.randn(length, width, **factory))
        self.prefix_value = nn.Parameter(torch.randn(length, width, **factory))
        self._encoder = [encoder] if encoder is not None else []  # a plain list: the MLP is not a submodule here
        self.slot, self.folded = slot, False
        if encoder is not None:
            self.refresh()
            self.register_state_dict_pre_hook(_refresh_before_saving)

    @property
    def encoder(self):
        return self._encoder[0] if self._encoder else None

    @torch.no_grad()
    def refresh(self):
        """Store what the MLP computes now (nothing to do without an MLP, or once it is folded)."""
        if self.encoder is not None and not self.folded:
            keys, values = self.encoder(self.slot)
            self.prefix_key.copy_(keys)
            self.prefix_value.copy_(values)

    def forward(self):
        if self.encoder is not None and not self.folded:
            return self.encoder(self.slot)
        return self.prefix_key, self.prefix_value

    def extra_repr(self):
        source = "stored" if self.encoder is None or self.folded else f"MLP slot {self.slot}"
        return f"length={self.prefix_key.shape[0]}, {source}"


def _refresh_before_saving(module, prefix, keep_vars):
    module.refresh()


class PrefixTuning(PeftMethod):
    name = "prefix"
    param_prefixes = ("prefix_",)
    can_merge = False

    options = (
        Option("prefix_length", positive_int, 20, "number of prefix keys and values in each layer's attention "
               "(peft's num_virtual_tokens)", metavar="P", no_twin=NO_TWIN),
        Option("prefix_projection", None, False, "produce the prefixes with an MLP while training (peft's "
               "prefix_projection); checkpoints also keep the prefixes it computes", no_twin=NO_TWIN),
        Option("prefix_hidden_size", positive_int, 0, "hidden width of the --prefix-projection MLP (peft's "
               "encoder_hidden_size); 0: the model width", metavar="H", no_twin=NO_TWIN),
    )

    def __init__(self, args, flags=None):
        super().__init__(args)
        self.flags = flags or {o.name: o.flag for o in self.options}  # for messages (MAM renames them)
        self.length = positive_int(args.prefix_length)
        self.projection = bool(args.prefix_projection)
        self.hidden = args.prefix_hidden_size or 0
        if self.hidden and not self.projection:
            raise OptionError(f"{self.flags['prefix_hidden_size']} {self.hidden}: the hidden size of the prefix MLP "
                              f"only acts with {self.flags['prefix_projection']}")

    def settings(self):
        return {**super().settings(), "length": self.length, "projection": self.projection,
                "hidden_size": self.hidden or None}

    def apply(self, model):
        layers = self.selected_layers(model)
        attention = layers[0][1].self_attn
        width = attention.embed_dim
        factory = {"device": attention.q_proj.weight.device, "dtype": attention.q_proj.weight.dtype}
        encoder = None
        if self.projection:
            encoder = PrefixEncoder(self.length, width, self.hidden or width, len(layers), factory)
            model.encoder.sentence_encoder.prefix_encoder = encoder
        for slot, (_, layer) in enumerate(layers):
            layer.self_attn.prefix = PrefixKeyValues(self.length, width, factory, encoder, slot)

    def prefix_modules(self, model):
        return [layer.self_attn.prefix for _, layer in self.selected_layers(model)]

    def trainable_groups(self, model):
        names = {id(module): name for name, module in model.named_modules()}
        if self.projection:
            encoder = model.encoder.sentence_encoder.prefix_encoder
            return {"prefix encoder": [f"{names[id(encoder)]}.{n}" for n, _ in encoder.named_parameters()]}
        return {"prefix": [f"{names[id(m)]}.{n}" for m in self.prefix_modules(model) for n, _ in m.named_parameters()]}

    def merge(self, model):
        """Fold the projection MLP into the stored prefixes (nothing to fold without one); RoBERTa's weights stay."""
        for module in self.prefix_modules(model):
            module.refresh()
            module.folded = True

    def unmerge(self, model):
        for module in self.prefix_modules(model):
            module.folded = False
