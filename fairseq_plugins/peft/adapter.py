"""Bottleneck adapters (Houlsby et al. 2019; Pfeiffer et al. 2021): a small trainable MLP with a skip
connection, inserted after a sub-block of each encoder layer, before that block's residual add and
LayerNorm.

Each adapter maps the block output ``h`` (width d) to ``h + up(act(down(h)))`` with ``down`` d -> m
(``--adapter-dim``, default 64), ``act`` ReLU or GELU (``--adapter-activation``) and ``up`` m -> d.

``--adapter-type``:
  - ``houlsby`` (default): two adapters per layer, after the attention output projection
    (``self_attn.out_proj``) and after the feed-forward output (``fc2``). Both layer LayerNorms
    (``self_attn_layer_norm``, ``final_layer_norm``) train as well, as in Houlsby et al.
  - ``pfeiffer``: one adapter per layer, after the feed-forward block only (Pfeiffer et al.,
    AdapterFusion). Their adapter is followed by the layer's last Add & Norm, which is the one
    LayerNorm that trains here (``final_layer_norm``); ``self_attn_layer_norm`` stays frozen. The
    adapter sits where Houlsby's feed-forward adapter sits (on ``fc2``'s output, before the
    residual add), a simplification of their placement, which reads the layer's normalised output
    and applies the same LayerNorm once more after the adapter.
  - ``parallel`` (He et al. 2022, "Towards a unified view of parameter-efficient transfer
    learning"): one adapter per layer *beside* the feed-forward block: it reads the block's input
    (the attention sub-block's normalised output) and its output is added to the block's output,
    before the layer's dropout, residual add and LayerNorm. No LayerNorm trains (as in their code).
  ``--adapter-layer-norms`` overrides which LayerNorms train (``both``, ``final``, ``none``;
  AdapterHub's implementation trains none of the model's own LayerNorms).

``--adapter-scaling`` s multiplies every adapter's output: ``h + s * up(act(down(h)))`` for the
serial types, ``ffn(x) + s * up(act(down(x)))`` for the parallel one. He et al.'s scaled parallel
adapter uses s = 4; the default 1 is the unscaled adapter of the other papers.

Initialisation: ``down`` draws from a normal distribution of std 1e-2 truncated at two standard
deviations (Houlsby et al.'s near-identity scale), and ``up`` and both biases start at zero. The
adapter then adds exactly zero, so a fresh model computes exactly what the base model computes
(stronger than "near identity", and independent of the model's width), while training still
starts at once: ``up`` gets a gradient through the non-zero ``down`` activations from the first
step, ``down`` from the second (the argument behind LoRA's zero ``B``).

The adapters are extra modules: they cannot merge into RoBERTa's weights (``can_merge = False``).
The parallel type sits in ``PeftEncoderLayer.ffn_parallel`` (``layers.N.ffn_parallel.adapter_*``).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..options import Option, positive_float, positive_int
from .base import PeftMethod

ADAPTER_TYPES = ("houlsby", "pfeiffer", "parallel")
ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu}
# Which Linear each adapter follows, by adapter label.
ADAPTER_SITES = {"attn": "self_attn.out_proj", "ffn": "fc2"}
SITES_OF_TYPE = {"houlsby": ("attn", "ffn"), "pfeiffer": ("ffn",), "parallel": ()}
LAYER_NORM_CHOICES = {
    "both": ("self_attn_layer_norm", "final_layer_norm"),
    "final": ("final_layer_norm",),
    "none": (),
}
LAYER_NORMS_OF_TYPE = {"houlsby": "both", "pfeiffer": "final", "parallel": "none"}
DOWN_INIT_STD = 1e-2


def add_bottleneck(module, width, dim, factory):
    """The bottleneck's parameters on ``module`` (width -> dim -> width), initialised as described above."""
    module.adapter_down = nn.Parameter(torch.empty(dim, width, **factory))
    module.adapter_down_bias = nn.Parameter(torch.zeros(dim, **factory))
    module.adapter_up = nn.Parameter(torch.zeros(width, dim, **factory))
    module.adapter_up_bias = nn.Parameter(torch.zeros(width, **factory))
    nn.init.trunc_normal_(module.adapter_down, std=DOWN_INIT_STD, a=-2 * DOWN_INIT_STD, b=2 * DOWN_INIT_STD)


def bottleneck(module, h):
    """``s * up(act(down(h)))`` with the parameters of ``module`` (without a skip connection)."""
    inner = ACTIVATIONS[module.activation](F.linear(h, module.adapter_down, module.adapter_down_bias))
    out = F.linear(inner, module.adapter_up, module.adapter_up_bias)
    return out if module.scaling == 1 else out * module.scaling


class AdapterLinear(nn.Linear):
    """A Linear layer followed by a bottleneck adapter; keeps the base layer's ``weight`` and ``bias``."""

    def __init__(self, base: nn.Linear, dim: int, activation: str = "relu", scaling: float = 1.0):
        nn.Module.__init__(self)  # reuse the base layer's tensors instead of allocating new ones
        self.in_features, self.out_features = base.in_features, base.out_features
        self.weight, self.bias = base.weight, base.bias
        add_bottleneck(self, self.out_features, dim, {"device": base.weight.device, "dtype": base.weight.dtype})
        self.dim, self.activation, self.scaling = dim, activation, scaling

    def adapter(self, h):
        """The bottleneck's contribution (without the skip connection)."""
        return bottleneck(self, h)

    def forward(self, x):
        h = F.linear(x, self.weight, self.bias)
        return h + self.adapter(h)

    def extra_repr(self):
        return f"{super().extra_repr()}, adapter_dim={self.dim}, activation={self.activation}, scaling={self.scaling}"


class ParallelAdapter(nn.Module):
    """A bottleneck beside a block (``PeftEncoderLayer.ffn_parallel``): its output is added to the block's."""

    def __init__(self, width: int, dim: int, activation: str, scaling: float, factory):
        super().__init__()
        add_bottleneck(self, width, dim, factory)
        self.dim, self.activation, self.scaling = dim, activation, scaling

    def forward(self, x):
        return bottleneck(self, x)

    def extra_repr(self):
        return f"adapter_dim={self.dim}, activation={self.activation}, scaling={self.scaling}"


class Adapter(PeftMethod):
    name = "adapter"
    param_prefixes = ("adapter_",)
    can_merge = False

    NO_TWIN = "peft has no Houlsby/Pfeiffer bottleneck adapter for encoder classifiers (nor a parallel one)"
    options = (
        Option("adapter_type", str, "houlsby", "houlsby: adapters after attention and after the FFN; "
               "pfeiffer: one adapter after the FFN; parallel: one adapter beside the FFN (He et al. 2022)",
               choices=ADAPTER_TYPES, no_twin=NO_TWIN),
        Option("adapter_dim", positive_int, 64, "bottleneck width of each adapter", metavar="M", no_twin=NO_TWIN),
        Option("adapter_activation", str, "relu", "nonlinearity inside the bottleneck", choices=tuple(ACTIVATIONS),
               no_twin=NO_TWIN),
        Option("adapter_layer_norms", str, "auto", "which layer LayerNorms train: auto (both for houlsby, final "
               "for pfeiffer, none for parallel), both, final, none", choices=("auto",) + tuple(LAYER_NORM_CHOICES),
               no_twin=NO_TWIN),
        Option("adapter_scaling", positive_float, 1.0, "s: every adapter adds s times its output (He et al.'s "
               "scaled parallel adapter: 4)", metavar="S", no_twin=NO_TWIN),
    )

    def __init__(self, args):
        super().__init__(args)
        self.type = args.adapter_type
        self.dim = positive_int(args.adapter_dim)
        self.activation = args.adapter_activation
        self.scaling = positive_float(args.adapter_scaling)
        norms = args.adapter_layer_norms
        self.layer_norms = LAYER_NORMS_OF_TYPE[self.type] if norms == "auto" else norms
        self.sites = SITES_OF_TYPE[self.type]

    def settings(self):
        return {**super().settings(), "type": self.type, "dim": self.dim, "activation": self.activation,
                "layer_norms": self.layer_norms, "scaling": self.scaling}

    def apply(self, model):
        for _, layer in self.selected_layers(model):
            for site in self.sites:
                parent_path, _, attr = ADAPTER_SITES[site].rpartition(".")
                parent = layer.get_submodule(parent_path) if parent_path else layer
                setattr(parent, attr, AdapterLinear(getattr(parent, attr), self.dim, self.activation, self.scaling))
            if self.type == "parallel":
                weight = layer.fc1.weight
                layer.ffn_parallel = ParallelAdapter(layer.fc1.in_features, self.dim, self.activation, self.scaling,
                                                     {"device": weight.device, "dtype": weight.dtype})

    def trainable_groups(self, model):
        module_names = {id(module): name for name, module in model.named_modules()}
        groups = {}
        for _, layer in self.selected_layers(model):
            sites = [(f"adapter {site}", layer.get_submodule(ADAPTER_SITES[site])) for site in self.sites]
            if self.type == "parallel":
                sites.append(("parallel adapter ffn", layer.ffn_parallel))
            for label, module in sites:
                prefix = module_names[id(module)]
                groups.setdefault(label, []).extend(
                    f"{prefix}.{n}" for n, _ in module.named_parameters(recurse=False) if n.startswith("adapter_"))
            for norm in LAYER_NORM_CHOICES[self.layer_norms]:
                module = layer.get_submodule(norm)
                prefix = module_names[id(module)]
                groups.setdefault("layer norms", []).extend(f"{prefix}.{n}" for n, _ in module.named_parameters())
        return groups
