"""The RoBERTa encoder of the plugin: fairseq's own, with a self-attention that PEFT methods can wrap.

fairseq's ``MultiheadAttention`` hands its projection *weights* straight to
``F.multi_head_attention_forward``, so a wrapped ``q_proj`` module would never be called. The
attention here calls its four projections as modules and uses ``scaled_dot_product_attention``;
its parameter names (``q_proj``, ``k_proj``, ``v_proj``, ``out_proj``) are fairseq's, so plain
RoBERTa checkpoints load unchanged.
"""
import torch.nn as nn
import torch.nn.functional as F
from fairseq.models.roberta.model import RobertaEncoder
from fairseq.models.transformer import TransformerEncoder
from fairseq.modules.checkpoint_activations import checkpoint_wrapper
from fairseq.distributed import fsdp_wrap
from fairseq.modules.transformer_layer import TransformerEncoderLayerBase


class SelfAttention(nn.Module):
    """Multi-head self-attention over (time, batch, channel) inputs, projections called as modules."""

    def __init__(self, embed_dim, num_heads, dropout=0.0):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"embedding size {embed_dim} is not divisible by {num_heads} heads")
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.dropout = dropout
        self.q_proj = nn.Linear(embed_dim, embed_dim)
        self.k_proj = nn.Linear(embed_dim, embed_dim)
        self.v_proj = nn.Linear(embed_dim, embed_dim)
        self.out_proj = nn.Linear(embed_dim, embed_dim)

    def _split_heads(self, x, seq_len, batch):
        return x.view(seq_len, batch, self.num_heads, self.head_dim).permute(1, 2, 0, 3)

    def forward(self, query, key=None, value=None, key_padding_mask=None, need_weights=False,
                attn_mask=None, **unused):
        seq_len, batch, _ = query.shape
        q = self._split_heads(self.q_proj(query), seq_len, batch)
        k = self._split_heads(self.k_proj(query), seq_len, batch)
        v = self._split_heads(self.v_proj(query), seq_len, batch)
        mask = None
        if key_padding_mask is not None:
            mask = ~key_padding_mask.bool().view(batch, 1, 1, seq_len)
        if attn_mask is not None:  # additive float mask of shape (seq_len, seq_len), as fairseq passes it
            additive = attn_mask.to(q.dtype)
            mask = additive if mask is None else additive.masked_fill(~mask, float("-inf"))
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0
        )
        out = out.permute(2, 0, 1, 3).reshape(seq_len, batch, self.embed_dim)
        return self.out_proj(out), None

    def upgrade_state_dict_named(self, state_dict, name):
        """Split the fused ``in_proj_weight`` of old fairseq checkpoints into q/k/v, as fairseq does."""
        prefix = name + "." if name else ""
        for kind in ("weight", "bias"):
            fused = state_dict.pop(prefix + "in_proj_" + kind, None)
            if fused is not None:
                for proj, part in zip(("q_proj", "k_proj", "v_proj"), fused.chunk(3, dim=0)):
                    state_dict[f"{prefix}{proj}.{kind}"] = part


class PeftEncoderLayer(TransformerEncoderLayerBase):
    """fairseq's post-/pre-norm encoder layer with :class:`SelfAttention`."""

    def build_self_attention(self, embed_dim, cfg):
        return SelfAttention(embed_dim, cfg.encoder.attention_heads, dropout=cfg.attention_dropout)


class PeftTransformerEncoder(TransformerEncoder):
    """fairseq's TransformerEncoder built from :class:`PeftEncoderLayer`."""

    def build_encoder_layer(self, cfg):
        layer = PeftEncoderLayer(cfg, return_fc=self.return_fc)
        if cfg.checkpoint_activations:
            layer = checkpoint_wrapper(layer, offload_to_cpu=cfg.offload_activations)
        min_params_to_wrap = cfg.min_params_to_wrap if not cfg.checkpoint_activations else 0
        return fsdp_wrap(layer, min_num_params=min_params_to_wrap)


class PeftRobertaEncoder(RobertaEncoder):
    """RoBERTa's encoder (embeddings, layers, LM head) with :class:`PeftTransformerEncoder` inside."""

    def build_encoder(self, args, dictionary, embed_tokens):
        from fairseq.modules.transformer_sentence_encoder import init_bert_params

        encoder = PeftTransformerEncoder(args, dictionary, embed_tokens)
        encoder.apply(init_bert_params)
        return encoder


def encoder_layers(model):
    """The list of transformer layers of a RoBERTa model (unwrapping activation checkpointing)."""
    layers = model.encoder.sentence_encoder.layers
    return [getattr(layer, "_checkpoint_wrapped_module", layer) for layer in layers]


def set_layer_norm_eps(module, eps):
    """Give every LayerNorm below ``module`` the epsilon of the weights' origin (BERT uses 1e-12)."""
    for sub in module.modules():
        if "LayerNorm" in type(sub).__name__ and hasattr(sub, "eps"):
            sub.eps = eps
