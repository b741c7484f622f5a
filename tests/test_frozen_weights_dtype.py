"""``--frozen-weights-dtype bf16``: under bf16 autocast, frozen Linear weights kept in bfloat16 give the
numbers of fp32 ones (autocast rounds those at every use), bit for bit, in a step and in a real
fairseq-train run; the hub widens them back for inference, merging and export."""
import pytest
import torch
import torch.nn as nn
from conftest import TINY_SHAPE, build_model, fairseq_train, hub_for, hub_logits, valid_examples

HEAD = "sentence_classification_head"
BF16 = ["--frozen-weights-dtype", "bf16"]
METHOD_OPTIONS = {
    "lora": ["--peft", "lora", "--lora-dropout", "0.1", "--lora-targets", "q_proj,v_proj,fc1"],
    "ia3": ["--peft", "ia3"],
    "bitfit": ["--peft", "bitfit"],
    "adapter": ["--peft", "adapter"],
}


def frozen_linear_dtypes(model):
    return {p.dtype for m in model.modules() if isinstance(m, nn.Linear)
            for p in m.parameters(recurse=False) if not p.requires_grad}


def step(model, tokens):
    """(loss, {trained name: gradient}) of one training step with dropout."""
    model.train()
    torch.manual_seed(7)  # the dropout masks
    loss = model(tokens, classification_head_name=HEAD)[0].logsumexp(-1).sum()
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


def parameter_bytes(model):
    return sum(p.numel() * p.element_size() for p in model.parameters())


@pytest.mark.parametrize("method", sorted(METHOD_OPTIONS))
def test_bf16_frozen_weights_give_the_fp32_ones_loss_and_gradients(corpus, batch, method):
    options = ["--arch", "roberta_peft", *TINY_SHAPE, "--autocast-bf16", "--dropout", "0.1",
               *METHOD_OPTIONS[method]]
    plain, _, _ = build_model(corpus["finetune_bin"], *options, seed=3)
    narrow, _, _ = build_model(corpus["finetune_bin"], *options, *BF16, seed=3)
    assert frozen_linear_dtypes(plain) == {torch.float32} and frozen_linear_dtypes(narrow) == {torch.bfloat16}
    assert all(p.dtype == torch.float32 for p in narrow.parameters() if p.requires_grad)
    assert parameter_bytes(narrow) < parameter_bytes(plain)
    loss, gradients = step(plain, batch)
    loss_n, gradients_n = step(narrow, batch)
    assert torch.equal(loss, loss_n)
    assert gradients.keys() == gradients_n.keys() and any(".layers.0." in name for name in gradients)
    for name, gradient in gradients.items():
        assert torch.equal(gradient, gradients_n[name]), (name, (gradient - gradients_n[name]).abs().max())


def test_merging_into_bf16_weights_is_refused_until_they_are_widened(corpus, batch):
    options = ["--arch", "roberta_peft", *TINY_SHAPE, "--autocast-bf16", "--peft", "lora", *BF16]
    model, _, _ = build_model(corpus["finetune_bin"], *options, seed=3)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_()
    model.eval()
    with torch.no_grad():
        unmerged = model(batch, classification_head_name=HEAD)[0]
    with pytest.raises(RuntimeError, match="widen them before merging"):
        model.peft.merge(model)
    model.store_frozen_weights(torch.float32)
    assert frozen_linear_dtypes(model) == {torch.float32}
    model.peft.merge(model)
    with torch.no_grad():
        merged = model(batch, classification_head_name=HEAD)[0]
    assert torch.allclose(merged, unmerged, atol=0.05), (merged - unmerged).abs().max()


def test_a_fairseq_train_run_is_bit_identical_and_its_checkpoint_loads_widened(corpus, tmp_path):
    options = ["--arch", "roberta_peft", *TINY_SHAPE, "--num-classes", "2", "--autocast-bf16", "--peft", "lora",
               "--dropout", "0.1", "--max-update", "8", "--validate-interval-updates", "4"]
    runs = {}
    for name, extra in (("fp32", []), ("bf16", BF16)):
        fairseq_train(corpus["finetune_bin"], tmp_path / name, *options, *extra)
        state = torch.load(tmp_path / name / "checkpoint_last.pt", weights_only=False)["model"]
        runs[name] = state
    weight = "encoder.sentence_encoder.layers.0.fc1.weight"
    # fairseq saves in fp32 (its move_to_cpu widens bf16): the values are the rounded ones trained with
    assert not torch.equal(runs["fp32"][weight], runs["bf16"][weight])
    assert torch.equal(runs["fp32"][weight].to(torch.bfloat16).float(), runs["bf16"][weight])
    trained = [k for k in runs["fp32"] if "lora_" in k or "classification_heads" in k]
    assert trained and all(torch.equal(runs["fp32"][k], runs["bf16"][k]) for k in trained)
    hub = hub_for(corpus, checkpoint=str(tmp_path / "bf16" / "checkpoint_last.pt"))
    assert frozen_linear_dtypes(hub.model) == {torch.float32}  # inference, merging and export read fp32
    reference = hub_for(corpus, checkpoint=str(tmp_path / "fp32" / "checkpoint_last.pt"))
    texts, _ = valid_examples(corpus)
    assert torch.equal(hub_logits(hub, texts[:16]), hub_logits(reference, texts[:16]))  # under bf16 autocast
