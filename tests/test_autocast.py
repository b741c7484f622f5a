"""``--autocast-bf16``: the model's matrix products in bfloat16, its parameters and gradients in fp32."""
import pytest
import torch
from conftest import TINY_SHAPE, build_model, fairseq_train, hub_valid_accuracy

from fairseq_plugins.checkpoints.safety import safe_load

HEAD = "sentence_classification_head"


def forward_recording_linear_dtypes(model, tokens):
    """(logits, set of the dtypes the Linear layers produced) of one forward pass."""
    dtypes = set()
    hooks = [module.register_forward_hook(lambda _module, _inputs, output: dtypes.add(output.dtype))
             for module in model.modules() if isinstance(module, torch.nn.Linear)]
    try:
        logits = model(tokens, classification_head_name=HEAD)[0]
    finally:
        for hook in hooks:
            hook.remove()
    return logits, dtypes


@pytest.fixture(scope="module")
def twins(corpus):
    """The same LoRA model (same seed, same weights) without and with --autocast-bf16."""
    options = ["--arch", "roberta_peft", *TINY_SHAPE, "--peft", "lora"]
    plain, _, _ = build_model(corpus["finetune_bin"], *options, seed=3)
    autocast, _, _ = build_model(corpus["finetune_bin"], *options, "--autocast-bf16", seed=3)
    return plain, autocast


def test_linear_layers_run_in_bfloat16_and_logits_come_back_in_fp32(twins, batch):
    plain, autocast = twins
    plain.eval(), autocast.eval()
    with torch.no_grad():
        reference, plain_dtypes = forward_recording_linear_dtypes(plain, batch)
        logits, autocast_dtypes = forward_recording_linear_dtypes(autocast, batch)
    assert plain_dtypes == {torch.float32} and autocast_dtypes == {torch.bfloat16}
    assert logits.dtype == torch.float32
    assert torch.allclose(logits, reference, atol=5e-2, rtol=5e-2), (logits - reference).abs().max()


def test_trained_parameters_and_their_gradients_stay_fp32(twins, batch):
    _, autocast = twins
    autocast.train()
    logits, _ = forward_recording_linear_dtypes(autocast, batch)
    logits.logsumexp(-1).sum().backward()
    trained = {name: p for name, p in autocast.named_parameters() if p.requires_grad}
    assert trained and all(p.dtype == torch.float32 for p in autocast.parameters())
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in trained.values())
    assert any(p.grad.abs().sum() > 0 for name, p in trained.items() if "lora_B" in name)


def test_fairseq_train_with_autocast_learns_and_the_checkpoint_keeps_it(corpus, plain_checkpoint, tmp_path):
    fairseq_train(corpus["finetune_bin"], tmp_path, "--arch", "roberta_peft", *TINY_SHAPE, "--num-classes", "2",
                  "--peft", "lora", "--autocast-bf16", "--finetune-from-model", str(plain_checkpoint),
                  "--max-epoch", "2")
    checkpoint = tmp_path / "checkpoint_best.pt"
    assert safe_load(checkpoint)["cfg"]["model"].autocast_bf16 is True
    accuracy = hub_valid_accuracy(corpus, checkpoint)
    assert accuracy >= 0.9, f"valid accuracy {accuracy:.3f}"
