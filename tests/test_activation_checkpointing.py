"""``--checkpoint-activations``: each encoder layer keeps only its input for the backward pass and runs
again there; the loss and every gradient are those of the plain model (the same dropout masks), and
what the forward pass keeps for the backward pass shrinks."""
import pytest
import torch
from conftest import TINY_SHAPE, build_model

HEAD = "sentence_classification_head"


def loss_gradients_and_kept_bytes(model, tokens):
    """(loss, {trained name: gradient}, bytes autograd kept outside recomputed layers) of one step."""
    kept = []

    def pack(tensor):
        kept.append(tensor.numel() * tensor.element_size())
        return tensor

    model.train()
    torch.manual_seed(7)  # the dropout masks
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        logits = model(tokens, classification_head_name=HEAD)[0]
    loss = logits.float().logsumexp(-1).sum()
    loss.backward()
    gradients = {name: p.grad.clone() for name, p in model.named_parameters() if p.requires_grad}
    return loss.detach(), gradients, sum(kept)


@pytest.mark.parametrize("method", ["lora", "none"])
def test_recomputed_layers_give_the_plain_loss_and_gradients(corpus, batch, method):
    options = ["--arch", "roberta_peft", *TINY_SHAPE, "--peft", method, "--dropout", "0.1",
               "--attention-dropout", "0.1"]
    plain, _, _ = build_model(corpus["finetune_bin"], *options, seed=3)
    recomputed, _, _ = build_model(corpus["finetune_bin"], *options, "--checkpoint-activations", seed=3)
    loss, gradients, plain_bytes = loss_gradients_and_kept_bytes(plain, batch)
    loss_r, gradients_r, recomputed_bytes = loss_gradients_and_kept_bytes(recomputed, batch)
    assert torch.equal(loss, loss_r)
    assert gradients.keys() == gradients_r.keys() and any("layers.0." in name for name in gradients)
    for name, gradient in gradients.items():
        assert torch.equal(gradient, gradients_r[name]), (name, (gradient - gradients_r[name]).abs().max())
    assert recomputed_bytes < plain_bytes / 2, (recomputed_bytes, plain_bytes)


def test_evaluation_is_unchanged(corpus, batch):
    options = ["--arch", "roberta_peft", *TINY_SHAPE, "--peft", "lora"]
    plain, _, _ = build_model(corpus["finetune_bin"], *options, seed=3)
    recomputed, _, _ = build_model(corpus["finetune_bin"], *options, "--checkpoint-activations", seed=3)
    assert recomputed.encoder.sentence_encoder.checkpoint_activations
    assert not plain.encoder.sentence_encoder.checkpoint_activations
    plain.eval(), recomputed.eval()
    with torch.no_grad():
        assert torch.equal(plain(batch, classification_head_name=HEAD)[0],
                           recomputed(batch, classification_head_name=HEAD)[0])
