"""LoRA (Hu et al. 2021): a trainable low-rank update ``B A`` beside frozen Linear weights.

Options follow peft's names: r, alpha (the update is scaled by alpha / r), dropout (on the
update's input) and targets. ``A`` starts like a Linear weight (Kaiming-uniform) and ``B`` at zero,
so a freshly wrapped model computes exactly what the base model computes.

Two variants, as peft's ``use_rslora`` and ``use_dora``:
  - ``--lora-rslora`` (Kalajdzievska 2023, rank-stabilised LoRA): the update is scaled by
    alpha / sqrt(r) instead of alpha / r;
  - ``--lora-dora`` (Liu et al. 2024, DoRA): the adapted weight ``W' = W + s B A`` is split into a
    direction and a trainable magnitude ``m`` (one value per output row):
    ``W_dora = m / ||W'||_row * W'``, the bias left as it is. ``m`` starts at ``||W||_row`` of the
    weights the model starts from (the restored checkpoint's, see ``_load_from_state_dict``), so a
    fresh DoRA model computes exactly the base model. As in the paper (section 4.3) and peft, the
    norm ``||W'||_row`` is treated as a constant in backpropagation. With dropout, the correction
    of the base output reads the dropped-out input, as peft computes it. Merging folds
    ``m / ||W'||`` into the weight (exact up to rounding); unmerging puts back a copy of the
    original weight kept at merge time (bit for bit, as IA3 does).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..options import Option, comma_choices, positive_float, positive_int, probability, split_list
from .base import LINEAR_TARGETS, PeftMethod, check_mergeable


class LoraLinear(nn.Linear):
    """A Linear layer with a LoRA update; keeps the base layer's ``weight`` and ``bias`` names."""

    fusable = True  # its output is a function of (input, base output): see encoder.FusedLinears

    def __init__(self, base: nn.Linear, r: int, alpha: float, dropout: float = 0.0, rslora=False, dora=False):
        nn.Module.__init__(self)  # reuse the base layer's tensors instead of allocating new ones
        self.in_features, self.out_features = base.in_features, base.out_features
        self.weight, self.bias = base.weight, base.bias
        factory = {"device": base.weight.device, "dtype": base.weight.dtype}
        self.lora_A = nn.Parameter(torch.empty(r, self.in_features, **factory))
        self.lora_B = nn.Parameter(torch.zeros(self.out_features, r, **factory))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.r, self.alpha, self.rslora = r, alpha, rslora
        self.scaling = alpha / math.sqrt(r) if rslora else alpha / r
        self.lora_dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.lora_magnitude = nn.Parameter(self.adapted_norm(self.weight, self.lora_A, self.lora_B)) if dora else None
        self.merged = False
        self._unmerged_weight = None  # DoRA: the weight as it was before merge()

    def delta_weight(self):
        return (self.lora_B @ self.lora_A) * self.scaling

    @torch.no_grad()
    def adapted_norm(self, weight, lora_A, lora_B):
        """DoRA's ``||W + s B A||`` per output row, outside the autograd graph."""
        return torch.linalg.norm(weight + self.scaling * (lora_B @ lora_A), dim=1)

    def forward(self, x):
        return self.finish_output(x, F.linear(x, self.weight, self.bias))

    def finish_output(self, x, out):
        """The layer's output given the base layer's output ``out`` for input ``x``."""
        if self.merged:
            return out
        lora_x = self.lora_dropout(x)
        update = F.linear(F.linear(lora_x, self.lora_A), self.lora_B) * self.scaling
        if self.lora_magnitude is None:
            return out + update
        scale = self.lora_magnitude / self.adapted_norm(self.weight, self.lora_A, self.lora_B)
        if self.training and not isinstance(self.lora_dropout, nn.Identity):
            base = F.linear(lora_x, self.weight)
        else:
            base = out if self.bias is None else out - self.bias
        # m / ||W'|| * (W x + s B A x) + bias, written as a correction of the base output
        return out + (scale - 1) * base + scale * update

    @torch.no_grad()
    def merge(self):
        if self.merged:
            return
        check_mergeable(self)
        if self.lora_magnitude is None:
            self.weight += self.delta_weight()
        else:
            self._unmerged_weight = self.weight.detach().clone()
            scale = self.lora_magnitude / self.adapted_norm(self.weight, self.lora_A, self.lora_B)
            self.weight.copy_(scale.unsqueeze(1) * (self.weight + self.delta_weight()))
        self.merged = True

    @torch.no_grad()
    def unmerge(self):
        if not self.merged:
            return
        if self.lora_magnitude is None:
            self.weight -= self.delta_weight()
        else:
            self.weight.copy_(self._unmerged_weight)
            self._unmerged_weight = None
        self.merged = False

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """DoRA's magnitude starts from the weights the model starts from.

        A checkpoint without DoRA (a plain RoBERTa, or LoRA) gets the magnitude this module was
        built with (``RobertaPeftModel.upgrade_state_dict_named`` fills in the method's missing
        parameters), which is the norm of the weights before loading. Such an untouched magnitude is
        replaced by ``||W + s B A||`` of the loaded weights; a trained magnitude is loaded as it is.
        "Untouched": the incoming magnitude is this module's own, and that is still the norm of its
        weights up to rounding (the model may have moved to another device since).
        """
        key, names = prefix + "lora_magnitude", [prefix + n for n in ("weight", "lora_A", "lora_B")]
        if self.lora_magnitude is not None and key in state_dict and all(n in state_dict for n in names):
            current = self.lora_magnitude
            untouched = torch.allclose(current, self.adapted_norm(self.weight, self.lora_A, self.lora_B),
                                       rtol=8 * torch.finfo(current.dtype).eps, atol=0)
            if untouched and torch.equal(state_dict[key].to(current), current):
                weight, lora_A, lora_B = (state_dict[n].to(self.weight) for n in names)
                state_dict[key] = self.adapted_norm(weight, lora_A, lora_B)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self):
        variant = (", rslora" if self.rslora else "") + (", dora" if self.lora_magnitude is not None else "")
        return f"{super().extra_repr()}, r={self.r}, alpha={self.alpha}{variant}, merged={self.merged}"


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
        Option("lora_dora", None, False, "DoRA: a trainable magnitude per output row times the normalised "
               "direction of W + s B A (peft's use_dora); merges exactly", hf="LoraConfig.use_dora"),
        Option("lora_rslora", None, False, "rank-stabilised LoRA: scale the update by alpha / sqrt(r) instead of "
               "alpha / r (peft's use_rslora)", hf="LoraConfig.use_rslora"),
    )

    def __init__(self, args):
        super().__init__(args)
        self.r, self.alpha, self.dropout = args.lora_r, args.lora_alpha, args.lora_dropout
        self.targets = split_list(comma_choices(LINEAR_TARGETS)(args.lora_targets))
        self.dora, self.rslora = bool(args.lora_dora), bool(args.lora_rslora)

    def settings(self):
        return {**super().settings(), "r": self.r, "alpha": self.alpha, "dropout": self.dropout,
                "targets": self.targets, "dora": self.dora, "rslora": self.rslora}

    def apply(self, model):
        self.replace_targets(model, self.targets, lambda lin: LoraLinear(lin, self.r, self.alpha, self.dropout,
                                                                          rslora=self.rslora, dora=self.dora))

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
