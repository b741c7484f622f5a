"""(IA)^3 (Liu et al. 2022): learned vectors that rescale activations of frozen Linear layers.

``--ia3-targets`` names the Linear layers that get a vector (default ``k_proj,v_proj,fc2``, the
paper's keys, values and FFN inner activation). ``--ia3-feedforward`` says which of them are
feed-forward layers (default ``fc2``): as in peft's ``feedforward_modules``, the vector of a
feed-forward target scales the layer's *input* (for ``fc2``, the FFN inner activation, width
d_ffn), the vector of any other target scales its *output* (keys, values; width d), bias included.
The vectors start at one, so a fresh model computes exactly what the base model computes.

Merging folds each vector into its Linear: output scaling multiplies the rows of ``weight`` and
the ``bias``, input scaling the columns of ``weight``. The merged model's outputs then differ from
the unmerged one's only by float rounding (the scaling happens before instead of after the matmul,
about 1e-7 relative in float32). Unmerging does not divide by the vectors (inexact, and impossible
where a vector holds a zero): the merge keeps a copy of the weights it changes and unmerging puts
them back bit for bit, at the cost of one copy of each targeted weight while merged.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..options import Option, OptionError, comma_choices, split_list
from .base import LINEAR_TARGETS, PeftMethod, check_mergeable

NO_FEEDFORWARD = "none"


class IA3Linear(nn.Linear):
    """A Linear layer whose input or output is rescaled by a learned vector; keeps ``weight`` and ``bias``."""

    def __init__(self, base: nn.Linear, scales_input: bool):
        nn.Module.__init__(self)  # reuse the base layer's tensors instead of allocating new ones
        self.in_features, self.out_features = base.in_features, base.out_features
        self.weight, self.bias = base.weight, base.bias
        self.scales_input = scales_input
        width = self.in_features if scales_input else self.out_features
        self.ia3_scale = nn.Parameter(torch.ones(width, device=base.weight.device, dtype=base.weight.dtype))
        self.merged = False
        self._unmerged_weights = None  # (weight, bias) as they were before merge()

    @property
    def fusable(self):
        """Output scaling is a function of the base output (see encoder.FusedLinears); input scaling is not."""
        return not self.scales_input or self.merged

    def forward(self, x):
        if self.scales_input and not self.merged:
            return F.linear(x * self.ia3_scale, self.weight, self.bias)
        return self.finish_output(x, F.linear(x, self.weight, self.bias))

    def finish_output(self, x, out):
        """The layer's output given the base layer's output ``out`` (output scaling only)."""
        return out if self.merged else out * self.ia3_scale

    @torch.no_grad()
    def merge(self):
        if self.merged:
            return
        check_mergeable(self)
        bias = None if self.bias is None else self.bias.detach().clone()
        self._unmerged_weights = (self.weight.detach().clone(), bias)
        if self.scales_input:
            self.weight.mul_(self.ia3_scale.unsqueeze(0))  # columns
        else:
            self.weight.mul_(self.ia3_scale.unsqueeze(1))  # rows
            if self.bias is not None:
                self.bias.mul_(self.ia3_scale)
        self.merged = True

    @torch.no_grad()
    def unmerge(self):
        if not self.merged:
            return
        weight, bias = self._unmerged_weights
        self.weight.copy_(weight)
        if bias is not None:
            self.bias.copy_(bias)
        self._unmerged_weights = None
        self.merged = False

    def extra_repr(self):
        scaled = "input" if self.scales_input else "output"
        return f"{super().extra_repr()}, ia3 scales {scaled}, merged={self.merged}"


class IA3(PeftMethod):
    name = "ia3"
    param_prefixes = ("ia3_",)
    can_merge = True

    options = (
        Option("ia3_targets", comma_choices(LINEAR_TARGETS), "k_proj,v_proj,fc2",
               "comma list of the Linear layers to rescale, from " + ",".join(LINEAR_TARGETS),
               hf="IA3Config.target_modules", metavar="LIST"),
        Option("ia3_feedforward", comma_choices(LINEAR_TARGETS, all_word=NO_FEEDFORWARD), "fc2",
               "the targets whose input (not output) is rescaled, as peft's feedforward_modules; "
               "'none' or a subset of --ia3-targets", hf="IA3Config.feedforward_modules", metavar="LIST"),
    )

    def __init__(self, args):
        super().__init__(args)
        self.targets = split_list(comma_choices(LINEAR_TARGETS)(args.ia3_targets))
        feedforward = split_list(comma_choices(LINEAR_TARGETS, all_word=NO_FEEDFORWARD)(args.ia3_feedforward))
        self.feedforward = [] if feedforward == [NO_FEEDFORWARD] else feedforward
        strays = [t for t in self.feedforward if t not in self.targets]
        if strays:
            raise OptionError(f"--ia3-feedforward names {','.join(strays)}, which --ia3-targets "
                              f"({','.join(self.targets)}) does not include")

    def settings(self):
        return {**super().settings(), "targets": self.targets, "feedforward": self.feedforward}

    def apply(self, model):
        for target in self.targets:
            scales_input = target in self.feedforward
            self.replace_targets(model, [target], lambda lin: IA3Linear(lin, scales_input))

    def trainable_groups(self, model):
        groups = {}
        for name in self.params_with_prefix(model):
            target = name.rsplit(".", 2)[-2]
            groups.setdefault(f"ia3 {target}", []).append(name)
        return groups

    def merge(self, model):
        for module in self.wrapped_modules(model, IA3Linear):
            module.merge()

    def unmerge(self, model):
        for module in self.wrapped_modules(model, IA3Linear):
            module.unmerge()
