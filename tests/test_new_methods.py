"""DoRA, rsLoRA, prefix tuning, the parallel adapter and MAM (issue 18), checked against references.

- DoRA and rsLoRA: peft on the real MiniLM weights (the approach of tests/test_peft_oracle.py: HF's
  BERT loaded by transformers, wrapped by peft through the twin's ``apply_method``, the same random
  parameters on both sides): logits, merged logits, the magnitude's initial value, trained counts.
- Prefix tuning: peft 0.21 no longer runs it on transformers 5's BERT classifiers (its forward
  raises "Model does not support past key values which are required for prefix tuning"), so the
  reference is a direct computation: BERT written out over the modules transformers loads, with
  attention over the prefixed keys and values (the same computation without prefixes reproduces
  transformers' own logits). peft's own PrefixEncoder checks the projection MLP and its layout, and
  peft's model the trained counts.
- Parallel adapter, prefix attention, fresh models: direct computations on a tiny model.
The measured differences are printed (``pytest -s``).
"""
import os

import pytest
import torch
import torch.nn.functional as F
from conftest import TINY_SHAPE, build_model, logits

os.environ.setdefault("HF_HUB_OFFLINE", "1")
transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")

import test_peft_oracle as oracle  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")
TOLERANCE = 1e-5
ALL = "q_proj,k_proj,v_proj,out_proj,fc1,fc2"
LAYERS, D, D_FFN = 2, 64, 128  # TINY_SHAPE


def tiny(corpus, *args, seed=1, base=None):
    model, _, cfg = build_model(corpus["finetune_bin"], "--arch", "roberta_peft", *TINY_SHAPE, *args, seed=seed)
    if base is not None:  # the plain-checkpoint path: the base model's weights, the method's fresh ones
        model.load_state_dict(base.state_dict(), model_cfg=cfg.model)
    return model


@pytest.fixture(scope="module")
def base_model(corpus):
    return tiny(corpus)


# --- fresh methods compute the base model ---------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["--peft", "lora", "--lora-dora", "--lora-targets", ALL, "--lora-dropout", "0.1"],
    ["--peft", "lora", "--lora-rslora", "--lora-r", "4", "--lora-alpha", "16"],
    ["--peft", "adapter", "--adapter-type", "parallel", "--adapter-scaling", "4"],
], ids=["dora", "rslora", "parallel"])
def test_fresh_method_is_exactly_the_base_model(corpus, batch, base_model, args):
    assert torch.equal(logits(tiny(corpus, *args, seed=2, base=base_model), batch), logits(base_model, batch))


def test_dora_magnitude_starts_from_the_restored_weights_and_a_trained_one_is_kept(corpus, base_model):
    model = tiny(corpus, "--peft", "lora", "--lora-dora", seed=2)
    q = model.encoder.sentence_encoder.layers[1].self_attn.q_proj
    with torch.no_grad():  # the norm as another device might round it: still an untouched magnitude
        q.lora_magnitude.copy_(torch.nextafter(q.lora_magnitude, torch.tensor(float("inf"))))
    model.load_state_dict(base_model.state_dict(), model_cfg=model.args)
    plain = base_model.encoder.sentence_encoder.layers[1].self_attn.q_proj.weight
    assert torch.equal(q.lora_magnitude, torch.linalg.norm(plain, dim=1))
    assert q.scaling == 8 / 8 and tiny(corpus, "--peft", "lora", "--lora-rslora", "--lora-r", "4").encoder \
        .sentence_encoder.layers[0].self_attn.q_proj.scaling == 8 / 2  # alpha / sqrt(r)
    state = model.state_dict()
    key = "encoder.sentence_encoder.layers.1.self_attn.q_proj.lora_magnitude"
    state[key] = state[key] * 1.5
    other = tiny(corpus, "--peft", "lora", "--lora-dora", seed=3)
    other.load_state_dict(state)
    assert torch.equal(dict(other.named_parameters())[key], state[key])


def test_dora_merge_and_unmerge(corpus, batch, base_model):
    model = tiny(corpus, "--peft", "lora", "--lora-dora", "--lora-targets", ALL, base=base_model)
    generator = torch.Generator().manual_seed(5)
    for name, param in model.named_parameters():
        if "lora_B" in name or "lora_magnitude" in name:
            with torch.no_grad():
                param.add_(0.1 * torch.randn(param.shape, generator=generator))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    unmerged = logits(model, batch)
    model.peft.merge(model)
    assert (logits(model, batch) - unmerged).abs().max() <= TOLERANCE
    model.peft.unmerge(model)
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())
    assert torch.equal(logits(model, batch), unmerged)


# --- parallel adapter and prefixes, computed directly ---------------------------------------------

def test_parallel_adapter_adds_its_scaled_output_to_the_ffn(corpus):
    model = tiny(corpus, "--peft", "adapter", "--adapter-type", "parallel", "--adapter-dim", "8",
                 "--adapter-scaling", "4")
    layer = model.encoder.sentence_encoder.layers[0].eval()
    assert layer.fc2.__class__ is torch.nn.Linear and layer.ffn_parallel.adapter_down.shape == (8, D)
    torch.nn.init.normal_(layer.ffn_parallel.adapter_up, std=0.1)
    x = torch.randn(3, 5, D)
    attended = layer.self_attn_layer_norm(x + layer.self_attn.attend(x))
    a = layer.ffn_parallel
    side = 4 * (F.relu(attended @ a.adapter_down.T + a.adapter_down_bias) @ a.adapter_up.T + a.adapter_up_bias)
    ffn = layer.fc2(layer.activation_fn(layer.fc1(attended)))
    expected = layer.final_layer_norm(attended + ffn + side)
    assert (layer.forward_batch_first(x) - expected).abs().max() <= 1e-6


def prefixed_attention(projections, heads, x, keys, values, padding=None):
    """softmax(q [P_k; k]^T / sqrt(d_head)) [P_v; v] (before the output projection): every query sees the
    prefixes, padded keys are masked. ``projections``: the query, key and value Linear layers."""
    batch, length, width = x.shape
    head = width // heads
    query, key, value = projections

    def split(t):
        return t.view(batch, -1, heads, head).transpose(1, 2)

    q = split(query(x))
    k = split(torch.cat([keys.expand(batch, -1, -1), key(x)], dim=1))
    v = split(torch.cat([values.expand(batch, -1, -1), value(x)], dim=1))
    scores = q @ k.transpose(-1, -2) / head ** 0.5
    if padding is not None:
        hidden = torch.cat([torch.zeros(batch, keys.shape[0], dtype=torch.bool), padding], dim=1)
        scores = scores.masked_fill(hidden[:, None, None, :], float("-inf"))
    return (scores.softmax(-1) @ v).transpose(1, 2).reshape(batch, length, width)


def test_prefix_attention_is_attention_over_the_prefixed_keys_and_values(corpus):
    model = tiny(corpus, "--peft", "prefix", "--prefix-length", "3").eval()
    attention = model.encoder.sentence_encoder.layers[0].self_attn
    keys, values = attention.prefix()
    x, padding = torch.randn(2, 6, D), torch.tensor([[False] * 6, [False] * 4 + [True] * 2])
    projections = (attention.q_proj, attention.k_proj, attention.v_proj)
    expected = attention.out_proj(prefixed_attention(projections, attention.num_heads, x, keys, values, padding))
    assert (attention.attend(x, padding) - expected).abs().max() <= 1e-6
    assert (attention.attend(x, padding, first_query_only=True) - expected[:, :1]).abs().max() <= 1e-6


@pytest.mark.parametrize("args", [["--peft", "prefix"], ["--peft", "mam", "--mam-prefix-projection"]])
def test_prefixes_leave_padding_and_the_first_position_head_unaffected(corpus, batch, args):
    model = tiny(corpus, *args).eval()
    padded = logits(model, batch)
    pad = model.encoder.sentence_encoder.padding_idx
    alone = torch.cat([logits(model, row[row.ne(pad)].unsqueeze(0)) for row in batch])
    assert (padded - alone).abs().max() <= 1e-5
    with torch.no_grad():  # every position through every layer, the head applied afterwards
        features, _ = model(batch, features_only=True, return_all_hiddens=True)
        full = model.classification_heads["sentence_classification_head"](features)
    assert (padded - full).abs().max() <= 1e-6


def test_prefix_projection_is_kept_as_computed_prefixes_and_merge_folds_it(corpus, batch):
    model = tiny(corpus, "--peft", "prefix", "--prefix-projection", "--prefix-length", "4").eval()
    encoder = model.encoder.sentence_encoder.prefix_encoder
    before = logits(model, batch)
    with torch.no_grad():
        encoder.prefix_up_bias.add_(0.5)  # as a training step would move it
    state = model.state_dict()  # refreshes the stored prefixes
    for slot, layer in enumerate(model.encoder.sentence_encoder.layers):
        keys, values = encoder(slot)
        assert torch.equal(state[f"encoder.sentence_encoder.layers.{slot}.self_attn.prefix.prefix_key"], keys)
        assert torch.equal(layer.self_attn.prefix.prefix_value, values)
    moved = logits(model, batch)
    assert (moved - before).abs().max() > 1e-3
    model.peft.merge(model)
    with torch.no_grad():
        encoder.prefix_up_bias.add_(0.5)
    assert torch.equal(logits(model, batch), moved)  # folded: the MLP no longer acts
    model.peft.unmerge(model)
    assert (logits(model, batch) - moved).abs().max() > 1e-3




# --- DoRA and rsLoRA against peft, on MiniLM -----------------------------------------------------------

minilm = oracle.minilm  # the converted MiniLM and its HuggingFace files (a module fixture)
VARIANTS = {"dora": ["--lora-dora"], "rslora": ["--lora-rslora"], "dora+rslora": ["--lora-dora", "--lora-rslora"]}


@pytest.fixture(scope="module")
def sentences(minilm):
    """A padded batch of real sentences: HF token ids and mask, and their fairseq twins."""
    return oracle.batch.__wrapped__(minilm)


def lora_count(model):
    return sum(p.numel() for n, p in model.named_parameters() if p.requires_grad and "lora_" in n)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_dora_and_rslora_match_peft_fresh_changed_and_merged(minilm, sentences, variant):
    options = ["--lora-targets", ALL, "--lora-r", "4", "--lora-alpha", "8", *VARIANTS[variant]]
    fairseq = oracle.fairseq_model(minilm, "--peft", "lora", *options)
    model = oracle.peft_model(minilm, fairseq, "lora")
    config, dora = model.peft_config["default"], "--lora-dora" in options
    assert (config.use_dora, config.use_rslora) == (dora, "--lora-rslora" in options)
    assert lora_count(fairseq) == lora_count(model)
    fresh = oracle.fairseq_logits(fairseq, sentences)
    plain, head = oracle.fairseq_model(minilm), "sentence_classification_head"
    plain.classification_heads[head].load_state_dict(fairseq.classification_heads[head].state_dict())
    assert torch.equal(fresh, oracle.fairseq_logits(plain, sentences))  # a fresh model is the base model
    differences = {"fresh": (fresh - oracle.hf_logits(model, sentences)).abs().max().item()}

    names, generator = ALL.split(","), torch.Generator().manual_seed(21)
    oracle.share_random_lora(fairseq, model, names, generator)  # also checks peft's scaling is ours
    for layer in range(6):
        for target in names if dora else []:
            ours = oracle.fairseq_layer_module(fairseq, layer, target)
            theirs = oracle.hf_layer_module(model, layer, target)
            vector = theirs.lora_magnitude_vector["default"].weight
            assert (vector - ours.lora_magnitude).abs().max() <= 1e-6  # both start at ||W|| of the same weights
            magnitude = ours.lora_magnitude * (1 + 0.2 * torch.randn(vector.shape, generator=generator))
            with torch.no_grad():
                ours.lora_magnitude.copy_(magnitude)
                vector.copy_(magnitude)
    ours, theirs = oracle.fairseq_logits(fairseq, sentences), oracle.hf_logits(model, sentences)
    assert (theirs - fresh).abs().max() > 1e-2, "the shared parameters must change the logits"
    differences["changed"] = (ours - theirs).abs().max().item()

    fairseq.peft.merge(fairseq)
    merged = model.merge_and_unload().eval()
    assert not any("lora_" in n for n, _ in merged.named_parameters())
    merged_ours = oracle.fairseq_logits(fairseq, sentences)
    differences["merged"] = (merged_ours - oracle.hf_logits(merged, sentences)).abs().max().item()
    differences["merged vs unmerged"] = (merged_ours - ours).abs().max().item()
    print(f"{variant}: max |fairseq - peft| " + ", ".join(f"{k} {v:.1e}" for k, v in differences.items()))
    assert max(differences.values()) <= TOLERANCE, differences


# --- prefix tuning against a direct computation of BERT, on MiniLM -------------------------------------

def bert_with_prefixes(hf, inputs, prefixes):
    """The logits of transformers' BertForSequenceClassification, computed module by module in eval mode,
    each layer's attention over [its prefix; the sequence] (``prefixes``: one (keys, values) per layer)."""
    bert, padding = hf.bert, ~inputs["attention_mask"].bool()
    x = bert.embeddings(input_ids=inputs["input_ids"], token_type_ids=inputs["token_type_ids"])
    for layer, (keys, values) in zip(bert.encoder.layer, prefixes):
        own, heads = layer.attention.self, hf.config.num_attention_heads
        attended = prefixed_attention((own.query, own.key, own.value), heads, x, keys, values, padding)
        x = layer.attention.output.LayerNorm(x + layer.attention.output.dense(attended))
        x = layer.output.LayerNorm(x + layer.output.dense(layer.intermediate(x)))
    return hf.classifier(bert.pooler(x))


def hf_classifier(minilm, fairseq):
    """transformers' BERT of the MiniLM files with the fairseq model's classifier (its dense layer is the pooler)."""
    model = transformers.AutoModelForSequenceClassification.from_pretrained(minilm["hf_dir"], num_labels=2)
    head = fairseq.classification_heads["sentence_classification_head"]
    with torch.no_grad():
        model.classifier.weight.copy_(head.out_proj.weight)
        model.classifier.bias.copy_(head.out_proj.bias)
    return model.eval()


def peft_prefix_encoder(length, hidden):
    from peft import PrefixTuningConfig, TaskType
    from peft.tuners.prefix_tuning import PrefixEncoder

    config = PrefixTuningConfig(task_type=TaskType.SEQ_CLS, num_virtual_tokens=length, token_dim=384, num_layers=6,
                                num_attention_heads=12, num_transformer_submodules=1, prefix_projection=True,
                                encoder_hidden_size=hidden)
    return PrefixEncoder(config)


@pytest.mark.parametrize("projection", [False, True], ids=["direct", "projection"])
def test_prefix_tuning_matches_a_direct_computation_with_the_same_prefixes(minilm, sentences, projection):
    options = ["--prefix-length", "6"] + (["--prefix-projection", "--prefix-hidden-size", "48"] if projection else [])
    fairseq = oracle.fairseq_model(minilm, "--peft", "prefix", *options)
    hf = hf_classifier(minilm, fairseq)
    empty = [(torch.zeros(0, 384), torch.zeros(0, 384))] * 6
    with torch.no_grad():
        check = (bert_with_prefixes(hf, sentences["hf"], empty) - oracle.hf_logits(hf, sentences)).abs().max().item()
    assert check <= TOLERANCE, "the direct computation is BERT's"
    layers = [layer.self_attn.prefix for layer in fairseq.encoder.sentence_encoder.layers]
    if projection:  # peft's PrefixEncoder with our MLP's weights: the same prefixes, in peft's layout
        ours = fairseq.encoder.sentence_encoder.prefix_encoder
        theirs = peft_prefix_encoder(6, 48)
        with torch.no_grad():
            ours.prefix_up.normal_(std=0.3)  # larger prefixes than the fresh MLP gives: a clear effect
            for target, source in ((theirs.embedding.weight, ours.prefix_tokens), (theirs.transform[0].weight,
                                   ours.prefix_down), (theirs.transform[0].bias, ours.prefix_down_bias),
                                   (theirs.transform[2].weight, ours.prefix_up), (theirs.transform[2].bias,
                                                                                  ours.prefix_up_bias)):
                target.copy_(source)
            computed = theirs(torch.arange(6).unsqueeze(0))[0].view(6, 12, 384)  # P x (layers * 2) x d
        prefixes = [(computed[:, 2 * i], computed[:, 2 * i + 1]) for i in range(6)]
        assert max((a - b).abs().max() for i, m in enumerate(layers) for a, b in zip(m(), prefixes[i])) <= 1e-6
    else:
        generator = torch.Generator().manual_seed(31)
        prefixes = [(torch.randn(6, 384, generator=generator), torch.randn(6, 384, generator=generator))
                    for _ in range(6)]
        with torch.no_grad():
            for module, (keys, values) in zip(layers, prefixes):
                module.prefix_key.copy_(keys)
                module.prefix_value.copy_(values)
    with torch.no_grad():
        reference = bert_with_prefixes(hf, sentences["hf"], prefixes)
    ours = oracle.fairseq_logits(fairseq, sentences)
    assert (reference - oracle.hf_logits(hf, sentences)).abs().max() > 1e-2, "the prefixes must change the logits"
    difference = (ours - reference).abs().max().item()
    print(f"prefix ({'projection' if projection else 'direct'}): max |fairseq - direct computation| = "
          f"{difference:.1e} (the computation without prefixes vs transformers: {check:.1e})")
    assert difference <= TOLERANCE


@pytest.mark.parametrize("projection", [False, True], ids=["direct", "projection"])
def test_prefix_trainable_counts_equal_peft(minilm, projection):
    from peft import PrefixTuningConfig, TaskType, get_peft_model

    options = ["--prefix-length", "6"] + (["--prefix-projection", "--prefix-hidden-size", "48"] if projection else [])
    fairseq = oracle.fairseq_model(minilm, "--peft", "prefix", *options)
    config = PrefixTuningConfig(task_type=TaskType.SEQ_CLS, num_virtual_tokens=6, prefix_projection=projection,
                                encoder_hidden_size=48 if projection else None)
    model = get_peft_model(hf_classifier(minilm, fairseq), config)
    theirs = sum(p.numel() for p in model.prompt_encoder.parameters() if p.requires_grad)
    params = dict(fairseq.named_parameters())
    ours = sum(params[n].numel() for n in fairseq.trainable_groups["prefix encoder" if projection else "prefix"])
    assert ours == theirs == (6 * 384 + 384 * 48 + 48 + 48 * 12 * 384 + 12 * 384 if projection else 6 * 12 * 384)
