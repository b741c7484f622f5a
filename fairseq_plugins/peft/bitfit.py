"""BitFit (Ben Zaken et al. 2022): train the encoder's bias terms only.

``--bitfit-biases all`` trains every bias: the attention projections, both FFN layers, both
LayerNorms of each layer and the embedding LayerNorm. A comma list picks groups instead, e.g.
``q_proj,fc2`` for the paper's smallest subset.
"""
from fairseq.utils import safe_getattr

from ..encoder import encoder_layers
from .base import LINEAR_TARGETS, PeftMethod, comma_choices, split_list

LAYER_NORM_GROUPS = ("self_attn_layer_norm", "final_layer_norm")
EMBEDDING_GROUP = "layernorm_embedding"
BIAS_GROUPS = tuple(LINEAR_TARGETS) + LAYER_NORM_GROUPS + (EMBEDDING_GROUP,)


class BitFit(PeftMethod):
    name = "bitfit"

    @staticmethod
    def add_args(parser):
        parser.add_argument("--bitfit-biases", type=comma_choices(BIAS_GROUPS, all_word="all"), metavar="LIST",
                            help="'all' (default) or a comma list of bias groups from " + ",".join(BIAS_GROUPS))

    @staticmethod
    def set_defaults(args):
        args.bitfit_biases = safe_getattr(args, "bitfit_biases", "all")

    def __init__(self, args):
        super().__init__(args)
        groups = split_list(comma_choices(BIAS_GROUPS, all_word="all")(args.bitfit_biases))
        self.groups = list(BIAS_GROUPS) if groups == ["all"] else groups

    def options(self):
        return {"method": self.name, "biases": self.groups, "layers": self.layers}

    def trainable_groups(self, model):
        paths = {**LINEAR_TARGETS, **{g: g for g in LAYER_NORM_GROUPS}}
        all_layers = encoder_layers(model)
        index_of = {id(layer): i for i, layer in enumerate(all_layers)}
        prefix = "encoder.sentence_encoder.layers"
        groups = {}
        for _, layer in self.selected_layers(model):
            i = index_of[id(layer)]
            for group in self.groups:
                if group in paths and layer.get_submodule(paths[group]).bias is not None:
                    groups.setdefault(f"bias {group}", []).append(f"{prefix}.{i}.{paths[group]}.bias")
        embedding_norm = model.encoder.sentence_encoder.layernorm_embedding
        if EMBEDDING_GROUP in self.groups and embedding_norm is not None:
            groups[f"bias {EMBEDDING_GROUP}"] = [f"encoder.sentence_encoder.{EMBEDDING_GROUP}.bias"]
        return groups
