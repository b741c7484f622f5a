"""``--peft adapter`` (Houlsby / Pfeiffer bottleneck adapters) and ``--peft ia3``: in-process behaviour,
parameter counts, and real ``fairseq-train`` runs from the plain fairseq RoBERTa checkpoint."""
import re
import subprocess
import sys

import pytest
import torch
from conftest import (REPO, TINY_SHAPE, assert_one_step_moves_only_trained, build_model, fairseq_train, hub_for,
                      hub_logits, hub_valid_accuracy, logits, plain_fairseq_logits, valid_examples)

from fairseq_plugins.checkpoints.safety import safe_load

# TINY_SHAPE: 2 layers, width 64, FFN width 128.
LAYERS, D, D_FFN = 2, 64, 128
ADAPTER_DIM = 16
ADAPTER = ["--peft", "adapter", "--adapter-dim", str(ADAPTER_DIM)]
PFEIFFER = [*ADAPTER, "--adapter-type", "pfeiffer"]
IA3 = ["--peft", "ia3"]
RESET = ["--reset-optimizer", "--reset-dataloader", "--reset-meters", "--reset-lr-scheduler"]



@pytest.fixture(scope="module")
def base_model(corpus):
    return build_model(corpus["finetune_bin"], "--arch", "roberta_peft", *TINY_SHAPE, seed=1)[0]


def fresh_model(corpus, base_model, method_args):
    """A freshly wrapped model holding the base model's weights (the plain-checkpoint path)."""
    wrapped, _, cfg = build_model(corpus["finetune_bin"], "--arch", "roberta_peft", *TINY_SHAPE, *method_args, seed=2)
    wrapped.load_state_dict(base_model.state_dict(), model_cfg=cfg.model)
    return wrapped


# --- adapters -----------------------------------------------------------------------------------

@pytest.mark.parametrize("method_args", [ADAPTER, PFEIFFER, [*ADAPTER, "--adapter-activation", "gelu"]])
def test_fresh_adapter_model_is_the_base_model(corpus, batch, base_model, method_args):
    wrapped = fresh_model(corpus, base_model, method_args)
    adapters = [m for m in wrapped.modules() if hasattr(m, "adapter_up")]
    assert len(adapters) == LAYERS * (1 if "pfeiffer" in method_args else 2)
    for module in adapters:  # near-identity: small down-projection, zero up-projection
        assert 0 < module.adapter_down.abs().max() <= 2e-2 and torch.count_nonzero(module.adapter_up) == 0
    assert (logits(wrapped, batch) - logits(base_model, batch)).abs().max() < 1e-3


def test_adapter_sits_after_out_proj_and_fc2(corpus):
    model, _, _ = build_model(corpus["finetune_bin"], "--arch", "roberta_peft", *TINY_SHAPE, *ADAPTER)
    layer = model.encoder.sentence_encoder.layers[0]
    wrapped = {name for name, m in layer.named_modules() if hasattr(m, "adapter_up")}
    assert wrapped == {"self_attn.out_proj", "fc2"}
    fc2 = layer.fc2
    torch.nn.init.normal_(fc2.adapter_up, std=0.1)
    x = torch.randn(3, D_FFN)
    h = torch.nn.functional.linear(x, fc2.weight, fc2.bias)
    expected = h + torch.relu(h @ fc2.adapter_down.T + fc2.adapter_down_bias) @ fc2.adapter_up.T + fc2.adapter_up_bias
    assert torch.allclose(fc2(x), expected, atol=1e-6)


# --- IA3 ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("method_args", [
    IA3,
    [*IA3, "--ia3-targets", "q_proj,out_proj,fc1,fc2", "--ia3-feedforward", "fc1,fc2"],
    [*IA3, "--ia3-feedforward", "none"],
])
def test_fresh_ia3_model_equals_the_base_model(corpus, batch, base_model, method_args):
    wrapped = fresh_model(corpus, base_model, method_args)
    assert torch.equal(logits(wrapped, batch), logits(base_model, batch))


def test_ia3_scales_inputs_of_feedforward_targets_and_outputs_of_the_others(corpus):
    model, _, _ = build_model(corpus["finetune_bin"], "--arch", "roberta_peft", *TINY_SHAPE, *IA3)
    layer = model.encoder.sentence_encoder.layers[0]
    assert layer.fc2.ia3_scale.shape == (D_FFN,) and layer.self_attn.k_proj.ia3_scale.shape == (D,)
    for module in (layer.fc2, layer.self_attn.k_proj, layer.self_attn.v_proj):
        torch.nn.init.normal_(module.ia3_scale, mean=1.0, std=0.3)
    fc2, k = layer.fc2, layer.self_attn.k_proj
    x = torch.randn(5, D_FFN)
    assert torch.equal(fc2(x), torch.nn.functional.linear(x * fc2.ia3_scale, fc2.weight, fc2.bias))
    x = torch.randn(5, D)
    assert torch.equal(k(x), torch.nn.functional.linear(x, k.weight, k.bias) * k.ia3_scale)


def test_ia3_merge_and_unmerge(corpus, batch):
    model, _, _ = build_model(corpus["finetune_bin"], "--arch", "roberta_peft", *TINY_SHAPE, *IA3,
                              "--ia3-targets", "q_proj,k_proj,v_proj,fc1,fc2", "--ia3-feedforward", "fc1,fc2")
    for name, param in model.named_parameters():
        if "ia3_" in name:
            torch.nn.init.normal_(param, mean=1.0, std=0.3)
        elif name.endswith("proj.bias") or name.endswith("fc1.bias") or name.endswith("fc2.bias"):
            torch.nn.init.normal_(param, std=0.1)  # fairseq starts biases at zero, which scaling cannot change
    before = {n: p.detach().clone() for n, p in model.named_parameters() if "ia3_" not in n}
    unmerged = logits(model, batch)
    model.peft.merge(model)
    merged = logits(model, batch)
    assert (merged - unmerged).abs().max() < 1e-5
    params = dict(model.named_parameters())
    changed = {n for n, w in before.items() if not torch.equal(params[n], w)}
    assert changed == {f"encoder.sentence_encoder.layers.{i}.{path}" for i in range(LAYERS) for path in (
        "self_attn.q_proj.weight", "self_attn.q_proj.bias", "self_attn.k_proj.weight", "self_attn.k_proj.bias",
        "self_attn.v_proj.weight", "self_attn.v_proj.bias", "fc1.weight", "fc2.weight")}  # input scaling: no bias
    model.peft.unmerge(model)
    assert all(torch.equal(params[n], w) for n, w in before.items())
    assert torch.equal(logits(model, batch), unmerged)


# --- what trains ----------------------------------------------------------------------------------

def adapter_size(d, m):
    return d * m + m + m * d + d  # down weight and bias, up weight and bias


@pytest.mark.parametrize("method_args,groups,expected", [
    (ADAPTER, {"adapter attn", "adapter ffn", "layer norms"},
     LAYERS * (2 * adapter_size(D, ADAPTER_DIM) + 2 * 2 * D)),
    (PFEIFFER, {"adapter ffn", "layer norms"},
     LAYERS * (adapter_size(D, ADAPTER_DIM) + 2 * D)),
    ([*PFEIFFER, "--adapter-layer-norms", "none"], {"adapter ffn"}, LAYERS * adapter_size(D, ADAPTER_DIM)),
    ([*ADAPTER, "--peft-layers", "1"], {"adapter attn", "adapter ffn", "layer norms"},
     2 * adapter_size(D, ADAPTER_DIM) + 2 * 2 * D),
    (IA3, {"ia3 k_proj", "ia3 v_proj", "ia3 fc2"}, LAYERS * (D + D + D_FFN)),
    ([*IA3, "--ia3-targets", "q_proj,fc1", "--ia3-feedforward", "fc1"], {"ia3 q_proj", "ia3 fc1"}, LAYERS * (D + D)),
])
def test_trainable_parameter_counts(corpus, method_args, groups, expected):
    model, _, _ = build_model(corpus["finetune_bin"], "--arch", "roberta_peft", *TINY_SHAPE, *method_args,
                              "--head-trainable", "none")
    assert set(model.trainable_groups) == groups
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == expected
    if method_args == PFEIFFER:  # the LayerNorm after the adapter trains, the one after attention does not
        assert set(model.trainable_groups["layer norms"]) == {
            f"encoder.sentence_encoder.layers.{i}.final_layer_norm.{p}"
            for i in range(LAYERS) for p in ("weight", "bias")}


@pytest.mark.parametrize("method_args,expect_trained", [
    (ADAPTER, ["adapter_", "_layer_norm.", "classification_heads"]),
    (PFEIFFER, ["fc2.adapter_", "final_layer_norm.", "classification_heads"]),
    (IA3, ["ia3_scale", "classification_heads"]),
])
def test_optimizer_step_moves_only_trained_parameters(corpus, batch, method_args, expect_trained):
    """One Adam step: frozen weights bit-identical without a gradient, every trained one moved."""
    model, _, _ = build_model(corpus["finetune_bin"], "--arch", "roberta_peft", *TINY_SHAPE, *method_args)
    assert_one_step_moves_only_trained(model, batch, expect_trained, off_zero="adapter_up")


@pytest.mark.parametrize("option,value", [
    ("--adapter-dim", "0"), ("--adapter-activation", "tanh"), ("--adapter-type", "serial"),
    ("--ia3-targets", "k_proj,keys"), ("--ia3-feedforward", "ffn"),
])
def test_bad_option_values_are_refused_by_the_parser(corpus, capsys, option, value):
    with pytest.raises(SystemExit) as exit_info:
        build_model(corpus["finetune_bin"], "--arch", "roberta_peft", *TINY_SHAPE, option, value)
    assert exit_info.value.code == 2
    assert option in capsys.readouterr().err


def test_ia3_feedforward_must_be_among_the_targets(corpus):
    with pytest.raises(ValueError, match="--ia3-feedforward names fc2, which --ia3-targets"):
        build_model(corpus["finetune_bin"], "--arch", "roberta_peft", *TINY_SHAPE, *IA3, "--ia3-targets", "k_proj")


# --- fairseq-train runs ---------------------------------------------------------------------------

# The adapter run starts through --finetune-from-model, the IA3 run through --restore-file + resets.
RUNS = {"adapter": ["--finetune-from-model"], "ia3": ["--restore-file"]}
RUN_ARGS = {"adapter": ADAPTER, "ia3": IA3}


@pytest.fixture(scope="module")
def runs(corpus, plain_checkpoint, tmp_path_factory):
    """method -> (save_dir, training log) after 2 epochs from the plain checkpoint."""
    out = {}
    for method, start in RUNS.items():
        start = [*start, str(plain_checkpoint)] + (RESET if start == ["--restore-file"] else [])
        save_dir = tmp_path_factory.mktemp(f"run_{method}")
        proc = fairseq_train(corpus["finetune_bin"], save_dir, "--arch", "roberta_peft", *TINY_SHAPE,
                             "--num-classes", "2", *RUN_ARGS[method], *start, "--max-epoch", "2")
        out[method] = (save_dir, proc.stdout)
    return out






@pytest.mark.parametrize("method", list(RUNS))
def test_training_learns_and_writes_the_peft_only_file(corpus, runs, method):
    save_dir, log = runs[method]
    groups = {"adapter": r"adapter attn: [\d,]+, adapter ffn: [\d,]+, layer norms: [\d,]+",
              "ia3": r"ia3 k_proj: [\d,]+, ia3 v_proj: [\d,]+, ia3 fc2: [\d,]+"}[method]
    assert re.search(rf"peft={method} \| trainable parameters [\d,]+ of [\d,]+ \([\d.]+%\) \| groups: {groups}", log)
    accuracy = hub_valid_accuracy(corpus, save_dir / "checkpoint_best.pt")
    assert accuracy >= 0.9, f"{method}: valid accuracy {accuracy:.3f}"
    payload = safe_load(save_dir / "checkpoint_best.peft.pt")
    assert payload["peft"]["method"] == method
    if method == "adapter":
        assert payload["peft"]["type"] == "houlsby" and payload["peft"]["dim"] == ADAPTER_DIM
    else:
        assert payload["peft"]["targets"] == ["k_proj", "v_proj", "fc2"] and payload["peft"]["feedforward"] == ["fc2"]


@pytest.mark.parametrize("method", list(RUNS))
def test_frozen_weights_are_the_plain_checkpoints(runs, plain_checkpoint, method):
    plain = safe_load(plain_checkpoint)["model"]
    tuned = safe_load(runs[method][0] / "checkpoint_best.pt")["model"]
    prefix = {"adapter": "adapter_", "ia3": "ia3_"}[method]
    new_keys = {k for k in tuned if k not in plain}
    assert new_keys and all(k.rsplit(".", 1)[-1].startswith(prefix)
                            or k.startswith("classification_heads.sentence_classification_head") for k in new_keys)
    changed = {k for k in plain if k in tuned and not torch.equal(plain[k], tuned[k])}
    if method == "ia3":
        assert changed == set()
    else:  # Houlsby: the layer LayerNorms train along with the adapters
        assert changed and all(re.search(r"\.layers\.\d+\.(self_attn|final)_layer_norm\.", k) for k in changed)


def test_adapter_peft_only_file_holds_the_trained_layer_norms(runs, plain_checkpoint):
    """Base checkpoint + the adapter's PEFT-only file = the full checkpoint (LayerNorms included)."""
    from fairseq_plugins.checkpoints.peft_file import compose

    save_dir = runs["adapter"][0]
    full = safe_load(save_dir / "checkpoint_best.pt")["model"]
    payload = safe_load(save_dir / "checkpoint_best.peft.pt")
    assert any("final_layer_norm" in k for k in payload["state"]) and any(".adapter_" in k for k in payload["state"])
    composed = compose(save_dir / "checkpoint_best.peft.pt", plain_checkpoint)["model"]
    assert all(k in composed and torch.equal(composed[k], full[k]) for k in full)


def export(checkpoint, out_dir):
    return subprocess.run([sys.executable, str(REPO / "scripts" / "export_checkpoint.py"), str(checkpoint),
                           str(out_dir)], capture_output=True, text=True)


def test_ia3_export_loads_in_plain_fairseq(corpus, runs, tmp_path):
    """The IA3 model merged and exported: fairseq's RobertaModel loads it without the plugin, same logits."""
    save_dir = runs["ia3"][0]
    out_dir = tmp_path / "exported"
    proc = export(save_dir / "checkpoint_best.pt", out_dir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not any(".ia3_" in k for k in safe_load(out_dir / "model.pt")["model"])
    texts, _ = valid_examples(corpus)
    ours = hub_logits(hub_for(corpus, checkpoint=str(save_dir / "checkpoint_best.pt")), texts[:40])
    plain = plain_fairseq_logits(corpus, out_dir, tmp_path)
    assert (plain - ours).abs().max() <= 1e-4


def test_adapter_export_is_refused_with_one_line(runs, tmp_path):
    proc = export(runs["adapter"][0] / "checkpoint_best.pt", tmp_path / "exported")
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and "Traceback" not in proc.stderr
    assert re.fullmatch(r"export_checkpoint\.py: error: --peft adapter adds modules that cannot merge .*", errors[0])
    assert not (tmp_path / "exported" / "model.pt").exists()
