"""In-process behaviour of the plugin's model and PEFT methods (no training loop)."""
import pytest
import torch
from conftest import TINY_SHAPE, assert_one_step_moves_only_trained, build_model, logits

ALL_TARGETS = "q_proj,k_proj,v_proj,out_proj,fc1,fc2"



def test_plugin_attention_matches_fairseq_roberta(corpus, batch):
    """The plugin's encoder (with its own attention) computes what fairseq's RobertaModel computes."""
    plain, _, _ = build_model(corpus["finetune_bin"], "--arch", "roberta", *TINY_SHAPE)
    ours, _, _ = build_model(corpus["finetune_bin"], "--arch", "roberta_peft", *TINY_SHAPE)
    ours.load_state_dict(plain.state_dict())
    assert (logits(ours, batch) - logits(plain, batch)).abs().max() < 1e-5


@pytest.mark.parametrize("method_args", [
    ["--peft", "lora", "--lora-targets", ALL_TARGETS, "--lora-r", "4", "--lora-dropout", "0.1"],
    ["--peft", "bitfit"],
])
def test_fresh_method_equals_base_model(corpus, batch, method_args):
    """Restoring base weights into a freshly wrapped model gives exactly the base model's logits."""
    base, _, cfg = build_model(corpus["finetune_bin"], "--arch", "roberta_peft", *TINY_SHAPE, seed=1)
    wrapped, _, cfg = build_model(corpus["finetune_bin"], "--arch", "roberta_peft", *TINY_SHAPE, *method_args, seed=2)
    wrapped.load_state_dict(base.state_dict(), model_cfg=cfg.model)  # the plain-checkpoint path
    assert torch.equal(logits(wrapped, batch), logits(base, batch))


def test_lora_zero_init_and_scaling(corpus):
    model, _, _ = build_model(corpus["finetune_bin"], "--arch", "roberta_peft", *TINY_SHAPE,
                              "--peft", "lora", "--lora-r", "4", "--lora-alpha", "16", "--lora-targets", ALL_TARGETS)
    wrapped = [m for m in model.modules() if hasattr(m, "lora_A")]
    assert len(wrapped) == 2 * 6
    for module in wrapped:
        assert torch.count_nonzero(module.lora_B) == 0 and torch.count_nonzero(module.lora_A) > 0
        assert module.scaling == 16 / 4


def test_merge_and_unmerge(corpus, batch):
    model, _, _ = build_model(corpus["finetune_bin"], "--arch", "roberta_peft", *TINY_SHAPE,
                              "--peft", "lora", "--lora-targets", ALL_TARGETS, "--lora-alpha", "16")
    for name, param in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.05)
    before = {n: p.detach().clone() for n, p in model.named_parameters() if n.endswith("proj.weight")}
    unmerged = logits(model, batch)
    model.peft.merge(model)
    merged = logits(model, batch)
    assert (merged - unmerged).abs().max() < 1e-5
    assert not torch.equal(dict(model.named_parameters())["encoder.sentence_encoder.layers.0.self_attn.q_proj.weight"],
                           before["encoder.sentence_encoder.layers.0.self_attn.q_proj.weight"])
    model.peft.unmerge(model)
    for name, weight in before.items():
        assert torch.allclose(dict(model.named_parameters())[name], weight, atol=1e-6)
    assert (logits(model, batch) - unmerged).abs().max() < 1e-5


def test_peft_layers_selects_layers(corpus):
    model, _, _ = build_model(corpus["finetune_bin"], "--arch", "roberta_peft", *TINY_SHAPE,
                              "--peft", "lora", "--peft-layers", "1")
    names = [n for n, _ in model.named_parameters() if "lora_" in n]
    assert names and all(".layers.1." in n for n in names)


@pytest.mark.parametrize("method_args,head,expect_trained", [
    (["--peft", "lora"], "all", ["lora_A", "lora_B", "classification_heads"]),
    (["--peft", "lora", "--lora-targets", "q_proj"], "out_proj", ["q_proj.lora_", "out_proj"]),
    (["--peft", "bitfit"], "bias", [".bias"]),
    (["--peft", "bitfit", "--bitfit-biases", "q_proj,fc2"], "none", ["q_proj.bias", "fc2.bias"]),
    (["--peft", "none"], "all", ["encoder.sentence_encoder", "classification_heads"]),
])
def test_optimizer_step_moves_only_trained_parameters(corpus, batch, method_args, head, expect_trained):
    """One Adam step, as fairseq's trainer builds it: frozen weights bit-identical, trained ones moved."""
    model, _, _ = build_model(corpus["finetune_bin"], "--arch", "roberta_peft", *TINY_SHAPE, *method_args,
                              "--head-trainable", head)
    assert_one_step_moves_only_trained(model, batch, expect_trained, off_zero="lora_B")


def test_restoring_another_methods_checkpoint_is_refused(corpus):
    lora, _, _ = build_model(corpus["finetune_bin"], "--arch", "roberta_peft", *TINY_SHAPE, "--peft", "lora")
    bitfit, _, cfg = build_model(corpus["finetune_bin"], "--arch", "roberta_peft", *TINY_SHAPE, "--peft", "bitfit")
    with pytest.raises(ValueError, match="another PEFT setting.*export_checkpoint"):
        bitfit.load_state_dict(lora.state_dict(), model_cfg=cfg.model)


def test_bad_option_values_are_refused_by_the_parser(corpus, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_model(corpus["finetune_bin"], "--arch", "roberta_peft", *TINY_SHAPE, "--peft", "lora",
                    "--lora-targets", "q_proj,query")
    assert exit_info.value.code == 2
    assert "--lora-targets" in capsys.readouterr().err
