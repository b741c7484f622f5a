"""BitFit (Ben Zaken et al. 2022): train the encoder's bias terms only.

``--bitfit-biases all`` trains every bias: the attention projections, both FFN layers, both
LayerNorms of each layer and the embedding LayerNorm. A comma list picks groups instead, e.g.
``q_proj,fc2`` for the paper's smallest subset.
"""
from ..options import Option, comma_choices, split_list
from .base import LINEAR_TARGETS, PeftMethod

LAYER_NORM_GROUPS = ("self_attn_layer_norm", "final_layer_norm")
EMBEDDING_GROUP = "layernorm_embedding"
BIAS_GROUPS = tuple(LINEAR_TARGETS) + LAYER_NORM_GROUPS + (EMBEDDING_GROUP,)


class BitFit(PeftMethod):
    name = "bitfit"

    options = (
        Option("bitfit_biases", comma_choices(BIAS_GROUPS, all_word="all"), "all",
               "'all' or a comma list of the bias groups that train, from " + ",".join(BIAS_GROUPS),
               hf="trainable parameters", metavar="LIST"),
    )

    def __init__(self, args):
        super().__init__(args)
        groups = split_list(comma_choices(BIAS_GROUPS, all_word="all")(args.bitfit_biases))
        self.groups = list(BIAS_GROUPS) if groups == ["all"] else groups

    def settings(self):
        return {**super().settings(), "biases": self.groups}

    def trainable_groups(self, model):
        paths = {**LINEAR_TARGETS, **{g: g for g in LAYER_NORM_GROUPS}}
        prefix = "encoder.sentence_encoder.layers"
        groups = {}
        for i, layer in self.selected_layers(model):
            for group in self.groups:
                if group in paths and layer.get_submodule(paths[group]).bias is not None:
                    groups.setdefault(f"bias {group}", []).append(f"{prefix}.{i}.{paths[group]}.bias")
        embedding_norm = model.encoder.sentence_encoder.layernorm_embedding
        if EMBEDDING_GROUP in self.groups and embedding_norm is not None:
            groups[f"bias {EMBEDDING_GROUP}"] = [f"encoder.sentence_encoder.{EMBEDDING_GROUP}.bias"]
        return groups
