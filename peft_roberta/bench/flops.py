"""FLOPs of one training step, counted from the shapes each implementation really computes, and the
matmul peak they are compared with (measured in the same run: the hardware's practical peak).

Padded positions count; frozen weights get no weight gradient; the plugin's last layer computes
position 0 only (after keys and values of every position); multiply-adds count 2.
"""
import math
import time

from .measure import synchronize


def matmul_peak(device, precision, size=2048, repeats=20):
    """GFLOP/s of the best of a few large square matrix products."""
    import torch

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    a @ b
    best = math.inf
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        a @ b
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def training_flops(shape, batch, length, impl, method, num_classes=2):
    """FLOPs of one training step on a padded batch x length input.

    ``shape``: encoder_layers, encoder_embed_dim, encoder_ffn_embed_dim; ``impl``: fairseq (the last
    layer on position 0 only) or anything else (every position of every layer, as HF computes)."""
    layers, d, f = shape["encoder_layers"], shape["encoder_embed_dim"], shape["encoder_ffn_embed_dim"]
    per_token = 2 * (4 * d * d + 2 * d * f)  # q, k, v, out, fc1, fc2
    attention = 2 * 2 * length * length * d  # scores and weighted values, per sequence
    head = batch * 2 * (d * d + d * num_classes)
    if impl == "fairseq":  # the last layer: keys and values of every position, the rest for position 0
        last = length * 2 * 2 * d * d + 2 * (2 * d * d + 2 * d * f) + 2 * 2 * length * d
        forward = batch * ((layers - 1) * (length * per_token + attention) + last) + head
    else:
        forward = batch * layers * (length * per_token + attention) + head
    extra = 0  # the method's own modules: forward, and two gradients (input and weights)
    if method == "lora":
        extra = 3 * batch * length * layers * 2 * 2 * 8 * (d + d)  # r=8 on q and v
    elif method == "adapter":
        extra = 3 * batch * length * layers * 2 * 2 * 2 * d * 64  # two adapters of width 64
    if method == "full":
        return 3 * forward + extra  # forward, input gradients, weight gradients
    # frozen weights: no weight gradients; the first layer's q, k, v need no input gradient either
    return 2 * forward - batch * length * 2 * 3 * d * d + extra


def fairseq_shape(model_args):
    """The shape of a fairseq model from its resolved options (cfg.model)."""
    return {name: getattr(model_args, name) for name in
            ("encoder_layers", "encoder_embed_dim", "encoder_ffn_embed_dim", "encoder_attention_heads")}


def hf_shape(config):
    """The same shape from a transformers configuration."""
    return {"encoder_layers": config.num_hidden_layers, "encoder_embed_dim": config.hidden_size,
            "encoder_ffn_embed_dim": config.intermediate_size, "encoder_attention_heads": config.num_attention_heads}
