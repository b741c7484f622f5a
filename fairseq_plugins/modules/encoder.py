"""The RoBERTa encoder of the plugin: fairseq's, computed batch-first with PEFT-wrappable projections.

fairseq's ``MultiheadAttention`` hands its projection *weights* straight to
``F.multi_head_attention_forward``, so a wrapped ``q_proj`` module would never be called. The
attention here calls its projections as modules; its parameter names (``q_proj``, ``k_proj``,
``v_proj``, ``out_proj``) and the layers' are fairseq's, so plain RoBERTa checkpoints load
unchanged, and it computes the same function as fairseq's encoder.

Work it avoids (the same results, less time):
  - layers run batch-first, without fairseq's (time, batch) transposes;
  - the q, k and v projections run as one matrix product over their concatenated weights (cached
    while frozen); a PEFT wrapper joins in through ``finish_output(x, base_output)``;
  - for sentence classification, whose head reads position 0 only, the last layer computes
    queries, attention output, feed-forward and LayerNorms for position 0 alone (keys and values
    still come from every position).

Two places where a PEFT method adds a module instead of wrapping a Linear, both empty by default:
  - ``SelfAttention.prefix`` (prefix tuning): a module returning extra keys and values (P x C each)
    that every query attends to, before the sequence's own; they are not query positions, so the
    output keeps the sequence's length, padding still masks the sequence's padded keys only, and
    the last layer's position-0-only path attends to them as well;
  - ``PeftEncoderLayer.ffn_parallel`` (parallel adapter): a module beside the feed-forward block,
    reading the block's input; its output is added to the block's output (before dropout and the
    residual add).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint
from fairseq.distributed import fsdp_wrap
from fairseq.models.roberta.model import RobertaEncoder
from fairseq.models.transformer import TransformerEncoder
from fairseq.modules.checkpoint_activations import checkpoint_wrapper
from fairseq.modules.transformer_layer import TransformerEncoderLayerBase


def _fusable(linear):
    """A plain Linear, or a PEFT wrapper whose output is a function of (input, base output)."""
    return type(linear) is nn.Linear or getattr(linear, "fusable", False)


class FusedLinears:
    """Several Linear layers applied to one input with a single matrix product.

    The concatenated weight (and bias) is cached while the parts do not train and have not
    changed in place (tensor versions), and rebuilt (differentiably) when they train.
    """

    def __init__(self):
        self._cache = {}

    def _concatenated(self, tensors, name):
        if any(t.requires_grad for t in tensors):
            return torch.cat(tensors)
        key = tuple((t.data_ptr(), t._version) for t in tensors)
        cached = self._cache.get(name)
        if cached is None or cached[0] != key:
            cached = self._cache[name] = (key, torch.cat(tensors))
        return cached[1]

    def __call__(self, x, linears):
        if not all(_fusable(m) for m in linears):
            return [m(x) for m in linears]
        weight = self._concatenated([m.weight for m in linears], "weight")
        bias = None
        if all(m.bias is not None for m in linears):
            bias = self._concatenated([m.bias for m in linears], "bias")
        outputs = F.linear(x, weight, bias).split([m.out_features for m in linears], dim=-1)
        return [m.finish_output(x, y) if hasattr(m, "finish_output") else y for m, y in zip(linears, outputs)]


class SelfAttention(nn.Module):
    """Multi-head self-attention whose projections are modules (``q_proj`` ... ``out_proj``)."""

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
        self.fused = FusedLinears()
        self.prefix = None  # prefix tuning: a module giving (keys, values), each P x embed_dim

    def forward(self, query, key=None, value=None, key_padding_mask=None, need_weights=False,
                attn_mask=None, **unused):
        """fairseq's interface: (time, batch, channel) in and out, self-attention only."""
        out = self.attend(query.transpose(0, 1), key_padding_mask, attn_mask)
        return out.transpose(0, 1), None

    def _heads(self, x):
        batch, length, _ = x.shape
        return x.view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)

    def attend(self, x, key_padding_mask=None, attn_mask=None, first_query_only=False):
        """Batch-first self-attention; with ``first_query_only`` only position 0 attends (B x 1 x C out)."""
        if first_query_only:
            # contiguous: torch's linear on this strided view gives results that vary with memory layout
            q = self.q_proj(x[:, :1].contiguous())
            k, v = self.fused(x, [self.k_proj, self.v_proj])
        else:
            q, k, v = self.fused(x, [self.q_proj, self.k_proj, self.v_proj])
        mask = None
        if key_padding_mask is not None:
            mask = ~key_padding_mask.bool()[:, None, None, :]
        extra = 0
        if self.prefix is not None:  # extra keys and values in front of the sequence's, never masked
            prefix_k, prefix_v = self.prefix()
            extra, batch = prefix_k.shape[0], k.shape[0]
            k = torch.cat([prefix_k.to(k.dtype).expand(batch, -1, -1), k], dim=1)
            v = torch.cat([prefix_v.to(v.dtype).expand(batch, -1, -1), v], dim=1)
            mask = None if mask is None else F.pad(mask, (extra, 0), value=True)
        if attn_mask is not None:  # fairseq's additive (time, time) mask
            additive = F.pad(attn_mask.to(q.dtype)[: q.shape[1]], (extra, 0))
            mask = additive if mask is None else additive.masked_fill(~mask, float("-inf"))
        out = F.scaled_dot_product_attention(
            self._heads(q), self._heads(k), self._heads(v), attn_mask=mask,
            dropout_p=self.dropout if self.training else 0.0,
        )
        batch, _, length, _ = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(batch, length, self.embed_dim))

    def upgrade_state_dict_named(self, state_dict, name):
        """Split the fused ``in_proj_weight`` of old fairseq checkpoints into q/k/v, as fairseq does."""
        prefix = name + "." if name else ""
        for kind in ("weight", "bias"):
            fused = state_dict.pop(prefix + "in_proj_" + kind, None)
            if fused is not None:
                for proj, part in zip(("q_proj", "k_proj", "v_proj"), fused.chunk(3, dim=0)):
                    state_dict[f"{prefix}{proj}.{kind}"] = part


def dropout(module, x):
    """fairseq's FairseqDropout ``module`` applied to ``x``, with a cheaper mask.

    A uniform draw compared with p gives the same Bernoulli(1 - p) mask as torch's dropout, whose
    bernoulli_ costs twice as much per element on CPU (about 5% of a small model's training step).
    """
    if module.p == 0 or not (module.training or module.apply_during_inference):
        return x
    keep_scaled = torch.empty_like(x).uniform_().ge_(module.p).mul_(1.0 / (1.0 - module.p))
    return x * keep_scaled


class PeftEncoderLayer(TransformerEncoderLayerBase):
    """fairseq's post-/pre-norm encoder layer, with :class:`SelfAttention` and a batch-first path."""

    def __init__(self, cfg, return_fc=False):
        super().__init__(cfg, return_fc=return_fc)
        self.ffn_parallel = None  # a module beside the feed-forward block (parallel adapter)

    def build_self_attention(self, embed_dim, cfg):
        return SelfAttention(embed_dim, cfg.encoder.attention_heads, dropout=cfg.attention_dropout)

    def forward(self, x, encoder_padding_mask, attn_mask=None):
        """fairseq's interface: (time, batch, channel)."""
        return self.forward_batch_first(x.transpose(0, 1), encoder_padding_mask, attn_mask).transpose(0, 1)

    def forward_batch_first(self, x, padding_mask=None, attn_mask=None, first_position_only=False):
        residual = x[:, :1] if first_position_only else x
        h = self.self_attn_layer_norm(x) if self.normalize_before else x
        h = self.self_attn.attend(h, padding_mask, attn_mask, first_query_only=first_position_only)
        x = residual + dropout(self.dropout_module, h)
        if not self.normalize_before:
            x = self.self_attn_layer_norm(x)
        residual = x
        h = self.final_layer_norm(x) if self.normalize_before else x
        out = self.fc2(dropout(self.activation_dropout_module, self.activation_fn(self.fc1(h))))
        if self.ffn_parallel is not None:
            out = out + self.ffn_parallel(h)
        x = residual + dropout(self.dropout_module, out)
        if not self.normalize_before:
            x = self.final_layer_norm(x)
        return x


class PeftTransformerEncoder(TransformerEncoder):
    """fairseq's TransformerEncoder built from :class:`PeftEncoderLayer`, run batch-first."""

    def build_encoder_layer(self, cfg):
        layer = PeftEncoderLayer(cfg, return_fc=self.return_fc)
        # --checkpoint-activations: forward() recomputes each layer batch-first (torch.utils.checkpoint);
        # fairseq's wrapper only where it offloads the kept activations to the CPU
        self.checkpoint_activations = cfg.checkpoint_activations and not cfg.offload_activations
        if cfg.offload_activations:
            layer = checkpoint_wrapper(layer, offload_to_cpu=True)
        min_params_to_wrap = cfg.min_params_to_wrap if not cfg.checkpoint_activations else 0
        return fsdp_wrap(layer, min_num_params=min_params_to_wrap)

    def forward(self, src_tokens, src_lengths=None, return_all_hiddens=False, token_embeddings=None,
                first_position_only=False):
        """fairseq's output dictionary; ``first_position_only`` returns position 0 of the last layer only."""
        padding_mask = src_tokens.eq(self.padding_idx)
        if not padding_mask.any():
            padding_mask = None
        x, embedding = self.forward_embedding(src_tokens, token_embeddings)
        states = [x.transpose(0, 1)] if return_all_hiddens else []
        layers = list(self.layers)  # LayerDrop picks this step's layers here
        for i, layer in enumerate(layers):
            if isinstance(layer, PeftEncoderLayer):
                first_only = first_position_only and i == len(layers) - 1
                if self.checkpoint_activations and torch.is_grad_enabled():
                    # only x is kept; the backward pass runs the layer again, under the same autocast
                    # and from the same random state (the same dropout masks)
                    x = checkpoint(layer.forward_batch_first, x, padding_mask, None, first_only, use_reentrant=False)
                else:
                    x = layer.forward_batch_first(x, padding_mask, first_position_only=first_only)
            else:  # wrapped for activation checkpointing or FSDP: fairseq's (time, batch) interface
                x = layer(x.transpose(0, 1), padding_mask).transpose(0, 1)
            if return_all_hiddens:
                states.append(x.transpose(0, 1))
        if first_position_only:
            x = x[:, :1]
        if self.layer_norm is not None:
            x = self.layer_norm(x)
        return {
            "encoder_out": [x.transpose(0, 1)],  # time x batch x channel, as fairseq returns it
            "encoder_padding_mask": [src_tokens.eq(self.padding_idx)],
            "encoder_embedding": [embedding],
            "encoder_states": states,
            "fc_results": [],
            "src_tokens": [],
            "src_lengths": [src_tokens.ne(self.padding_idx).sum(dim=1, dtype=torch.int32).reshape(-1, 1)],
        }


class PeftRobertaEncoder(RobertaEncoder):
    """RoBERTa's encoder (embeddings, layers, LM head) with :class:`PeftTransformerEncoder` inside."""

    def build_encoder(self, args, dictionary, embed_tokens):
        from fairseq.modules.transformer_sentence_encoder import init_bert_params

        encoder = PeftTransformerEncoder(args, dictionary, embed_tokens)
        encoder.apply(init_bert_params)
        return encoder

    def forward(self, src_tokens, features_only=False, return_all_hiddens=False, masked_tokens=None,
                first_position_only=False, **unused):
        x, extra = self.extract_features(src_tokens, return_all_hiddens, first_position_only=first_position_only)
        if not features_only:
            x = self.output_layer(x, masked_tokens=masked_tokens)
        return x, extra

    def extract_features(self, src_tokens, return_all_hiddens=False, first_position_only=False, **kwargs):
        encoder_out = self.sentence_encoder(
            src_tokens, return_all_hiddens=return_all_hiddens,
            token_embeddings=kwargs.get("token_embeddings"), first_position_only=first_position_only,
        )
        features = encoder_out["encoder_out"][0].transpose(0, 1)
        return features, {"inner_states": encoder_out["encoder_states"] if return_all_hiddens else None}


def encoder_layers(model):
    """The transformer layers of a RoBERTa model or encoder (unwrapping activation checkpointing)."""
    encoder = model.encoder.sentence_encoder if hasattr(model, "encoder") else model
    return [getattr(layer, "_checkpoint_wrapped_module", layer) for layer in encoder.layers]


def set_layer_norm_eps(module, eps):
    """Give every LayerNorm below ``module`` the epsilon of the weights' origin (BERT uses 1e-12)."""
    for sub in module.modules():
        if "LayerNorm" in type(sub).__name__ and hasattr(sub, "eps"):
            sub.eps = eps
