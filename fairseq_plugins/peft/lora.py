"""LoRA (Hu et al. 2021): a trainable low-rank update ``B A`` beside frozen Linear weights.

Options follow peft's names: r, alpha (the update is scaled by alpha / r), dropout (on the
update's input) and targets. ``A`` starts like a Linear weight (Kaiming-uniform) and ``B`` at zero,
so a freshly wrapped model computes exactly what the base model computes.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..options import Option, comma_choices, positive_float, positive_int, probability, split_list
from .base import LINEAR_TARGETS, PeftMethod


class LoraLinear(nn.Linear):
    """A Linear layer with a LoRA update; keeps the base layer's ``weight`` and ``bias`` names."""

    fusable = True  # its output is a function of (input, base output): see encoder.FusedLinears

    def __init__(self, base: nn.Linear, r: int, alpha: float, dropout: float = 0.0):
        nn.Module.__init__(self)  # reuse the base layer's tensors instead of allocating new ones
        self.in_features, self.out_features = base.in_features, base.out_features
        self.weight, self.bias = base.weight, base.bias
        factory = {"device": base.weight.device, "dtype": base.weight.dtype}
        self.lora_A = nn.Parameter(torch.empty(r, self.in_features, **factory))
        self.lora_B = nn.Parameter(torch.zeros(self.out_features, r, **factory))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.r, self.alpha = r, alpha
        self.scaling = alpha / r
        self.lora_dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.merged = False

    def delta_weight(self):
        return (self.lora_B @ self.lora_A) * self.scaling

    def forward(self, x):
        return self.finish_output(x, F.linear(x, self.weight, self.bias))

    def finish_output(self, x, out):
        """The layer's output given the base layer's output ``out`` for input ``x``."""
        if self.merged:
            return out
        update = F.linear(F.linear(self.lora_dropout(x), self.lora_A), self.lora_B)
        return out + update * self.scaling

    @torch.no_grad()
    def merge(self):
        if not self.merged:
            self.weight += self.delta_weight()
            self.merged = True

    @torch.no_grad()
    def unmerge(self):
        if self.merged:
            self.weight -= self.delta_weight()
            self.merged = False

    def extra_repr(self):
        return f"{super().extra_repr()}, r={self.r}, alpha={self.alpha}, merged={self.merged}"


class Lora(PeftMethod):
    name = "lora"
    param_prefixes = ("lora_",)
    can_merge = True

    options = (
        Option("lora_r", positive_int, 8, "LoRA rank r", hf="LoraConfig.r", metavar="R"),
        Option("lora_alpha", positive_float, 8.0, "LoRA alpha; the update is scaled by alpha / r",
               hf="LoraConfig.lora_alpha", metavar="A"),
        Option("lora_dropout", probability, 0.0, "dropout on the LoRA input", hf="LoraConfig.lora_dropout",
               metavar="P"),
        Option("lora_targets", comma_choices(LINEAR_TARGETS), "q_proj,v_proj",
               "comma list of the Linear layers to adapt, from " + ",".join(LINEAR_TARGETS),
               hf="LoraConfig.target_modules", metavar="LIST"),
    )

    def __init__(self, args):
        super().__init__(args)
        self.r, self.alpha, self.dropout = args.lora_r, args.lora_alpha, args.lora_dropout
        self.targets = split_list(comma_choices(LINEAR_TARGETS)(args.lora_targets))

    def settings(self):
        return {**super().settings(), "r": self.r, "alpha": self.alpha, "dropout": self.dropout,
                "targets": self.targets}

    def apply(self, model):
        self.replace_targets(model, self.targets, lambda lin: LoraLinear(lin, self.r, self.alpha, self.dropout))

    def trainable_groups(self, model):
        groups = {}
        for name in self.params_with_prefix(model):
            target = name.rsplit(".", 2)[-2]
            groups.setdefault(f"lora {target}", []).append(name)
        return groups

    def merge(self, model):
        for module in self.wrapped_modules(model, LoraLinear):
            module.merge()

    def unmerge(self, model):
        for module in self.wrapped_modules(model, LoraLinear):
            module.unmerge()
