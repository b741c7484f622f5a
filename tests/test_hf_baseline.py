"""scripts/hf_baseline.py, the HuggingFace twin of a fairseq run: real tiny runs on a few hundred SST-2 rows."""
import json
import os
import subprocess
import sys

import pytest
from conftest import REPO, SHARED, load_script

pytestmark = pytest.mark.usefixtures("one_thread")  # small models: one thread is faster when cores are shared

os.environ.setdefault("HF_HUB_OFFLINE", "1")
pytest.importorskip("transformers")
pytest.importorskip("peft")

SCRIPT = REPO / "scripts" / "hf_baseline.py"
# one thread: on two cores shared with another job, two OpenMP threads per process run ~15x slower
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
COMMON = [  # recipes/common.sh's options, sized for a test
    "--batch-size", "4", "--required-batch-size-multiple", "1", "--optimizer", "adam",
    "--adam-betas", "(0.9,0.98)", "--adam-eps", "1e-6", "--weight-decay", "0.01",
    "--lr-scheduler", "polynomial_decay", "--dropout", "0.1", "--attention-dropout", "0.1",
    "--clip-norm", "0.0", "--head-trainable", "all", "--log-interval", "6",
    "--shorten-method", "truncate", "--max-positions", "24",
]
LORA = ["--lora-r", "4", "--lora-alpha", "8", "--lora-targets", "q_proj,v_proj"]
SYNTHETIC = {
    "1": ["a gripping , beautifully acted film", "warm , funny and wise", "one of the best films of the year",
          "a delightful surprise", "the cast is superb", "moving and smart"],
    "0": ["a tedious , lifeless mess", "dull and far too long", "the worst script in years",
          "flat jokes and a silly plot", "it never comes alive", "boring from start to finish"],
}




hf_baseline = load_script("hf_baseline")


def sst2_files(root):
    """train.tsv (SST-2's, or a synthetic stand-in), a 32-row dev and a labelled 24-row test."""
    glue = SHARED / "data" / "glue" / "SST-2"
    if (glue / "train.tsv").is_file() and (glue / "dev.tsv").is_file():
        dev = (glue / "dev.tsv").read_text(encoding="utf-8").splitlines()
        train = glue / "train.tsv"
    else:
        rows = [f"{text} {i}\t{label}" for i in range(40) for label, texts in SYNTHETIC.items() for text in texts]
        dev = ["sentence\tlabel", *rows[::3]]
        train = root / "train.tsv"
        train.write_text("\n".join(["sentence\tlabel", *rows]) + "\n", encoding="utf-8")
    (root / "dev.tsv").write_text("\n".join(dev[:33]) + "\n", encoding="utf-8")
    (root / "test.tsv").write_text("\n".join([dev[0], *dev[33:57]]) + "\n", encoding="utf-8")
    return train, root / "dev.tsv", root / "test.tsv"


@pytest.fixture(scope="module")
def model_dir():
    from fairseq_plugins.pretrained import resolve

    return resolve("minilm")


@pytest.fixture(scope="module")
def data_bin(tmp_path_factory, model_dir):
    root = tmp_path_factory.mktemp("sst2")
    train, dev, test = sst2_files(root)
    out = root / "bin"
    subprocess.run([sys.executable, str(REPO / "scripts" / "prepare_data.py"), "--task", "sst2", "--train", str(train),
                    "--dev", str(dev), "--test", str(test), "--text-columns", "sentence", "--label-column", "label",
                    "--model-dir", model_dir, "--max-train", "200", "--out-dir", str(out)],
                   check=True, capture_output=True, env=ENV)
    return out


def train_args(model_dir):
    return " ".join(json.loads(open(os.path.join(model_dir, "model_info.json")).read())["train_args"])


def hf_run(data_bin, model_dir, save_dir, method, init, fairseq_options, check=True):
    result = save_dir / "result.json"
    cmd = [sys.executable, str(SCRIPT), "--data-bin", str(data_bin), "--method", method, "--init", init,
           "--seed", "1", "--save-dir", str(save_dir), "--result-json", str(result),
           "--train-args", train_args(model_dir), "--model-dir", model_dir, "--", *fairseq_options]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
    if check:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc, result


def check_result(result, max_update, with_test=True):
    assert set(result) >= {"dev", "test", "trainable_params", "total_params", "updates", "best_updates"}
    assert set(result["dev"]) == {"accuracy", "macro_f1", "mcc", "f1"}
    assert 0 <= result["dev"]["accuracy"] <= 100
    if with_test:
        assert 0 <= result["test"]["accuracy"] <= 100
    assert 0 < result["trainable_params"] < result["total_params"]
    assert result["updates"] == max_update and 1 <= result["best_updates"] <= max_update


def peft_counts(model_dir, method, options, head="all"):
    """(result-style counts, peft's get_nb_trainable_parameters()) of the model the script builds."""
    info = json.loads(open(os.path.join(model_dir, "model_info.json")).read())
    model, family = hf_baseline.build_model(info["source"]["hf_dir"], ["0", "1"], "pretrained", seed=1)
    opts = hf_baseline.parse_fairseq_options(["--batch-size", "8", "--max-update", "1", "--head-trainable", head,
                                              *options])
    model = hf_baseline.apply_method(model, family, method, opts)
    return hf_baseline.count_parameters(model), model


def test_lora_run_through_run_experiment(data_bin, model_dir, tmp_path):
    """run_experiment.py --impl hf -> hf_baseline.py: a real LoRA run of 24 updates, validated every 12."""
    results = tmp_path / "runs.jsonl"
    options = [*COMMON, "--max-update", "24", "--total-num-update", "24", "--warmup-updates", "2", "--lr", "1e-3",
               "--validate-interval-updates", "12", "--save-interval-updates", "12", "--keep-interval-updates", "1",
               "--some-future-fairseq-option", "3", *LORA]
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "run_experiment.py"), "--impl", "hf", "--recipe", "test",
         "--task", "sst2", "--data-bin", str(data_bin), "--model", "minilm", "--model-dir", model_dir,
         "--train-args", train_args(model_dir), "--method", "lora", "--init", "pretrained", "--seed", "1",
         "--results", str(results), "--save-dir", str(tmp_path / "run"), "--", *options],
        capture_output=True, text=True, env=ENV)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert " | INFO | valid | hf" in proc.stdout and " | INFO | train_inner | hf" in proc.stdout  # echoed progress
    result = json.loads((tmp_path / "run" / "hf_result.json").read_text())
    check_result(result, 24)
    assert result["hf"]["max_length"] == 24
    (trainable, total), model = peft_counts(model_dir, "lora", LORA)
    assert result["trainable_params"] == trainable == model.get_nb_trainable_parameters()[0]
    assert result["total_params"] == total
    # 6 layers x (query + value) x (A 4 x 384 + B 384 x 4), plus the pooler and the classifier
    assert trainable == 6 * 2 * 2 * 4 * 384 + (384 * 384 + 384) + (2 * 384 + 2)
    row = json.loads(results.read_text().splitlines()[-1])
    assert row["impl"] == "hf" and row["dev_accuracy"] == round(result["dev"]["accuracy"], 4)
    assert row["updates"] == 24 and row["trainable_params"] == trainable
    saved = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert "checkpoint_best" in saved and not any(n.startswith("checkpoint-") for n in saved)
    assert (tmp_path / "run" / "checkpoint_best" / "adapter_model.safetensors").is_file()


def test_bitfit_random_init_run_and_counts(data_bin, model_dir, tmp_path):
    """A BitFit run from random weights (epoch-end validation); trainable = encoder biases + head."""
    options = [*COMMON, "--max-update", "3", "--total-num-update", "3", "--warmup-updates", "0", "--lr", "3e-3",
               "--bitfit-biases", "all"]
    proc, result_path = hf_run(data_bin, model_dir, tmp_path / "bitfit", "bitfit", "random", options)
    result = json.loads(result_path.read_text())
    check_result(result, 3)
    (trainable, total), model = peft_counts(model_dir, "bitfit", ["--bitfit-biases", "all"])
    params = dict(model.named_parameters())
    biases = sum(p.numel() for n, p in params.items()
                 if n.endswith(".bias") and (n.startswith("bert.encoder.") or n == "bert.embeddings.LayerNorm.bias"))
    head = sum(p.numel() for n, p in params.items() if n.startswith(("bert.pooler.", "classifier.")))
    assert result["trainable_params"] == trainable == biases + head
    assert biases == 6 * (4 * 384 + 1536 + 384 + 2 * 384) + 384  # q k v out, fc1, fc2, two LayerNorms; embeddings
    assert result["total_params"] == total == sum(p.numel() for p in params.values())
    # the head policy: out_proj = the classifier alone over a frozen pooler
    (classifier_only, _), _ = peft_counts(model_dir, "bitfit", ["--bitfit-biases", "all"], head="out_proj")
    assert classifier_only == biases + 2 * 384 + 2


def test_random_init_has_other_weights(model_dir):
    import torch

    info = json.loads(open(os.path.join(model_dir, "model_info.json")).read())

    def build(init):
        return hf_baseline.build_model(info["source"]["hf_dir"], ["0", "1"], init, seed=1)[0]

    pretrained, random, again = build("pretrained"), build("random"), build("random")
    name = "bert.encoder.layer.0.attention.self.query.weight"
    weights = {k: dict(m.named_parameters())[name] for k, m in
               (("pretrained", pretrained), ("random", random), ("again", again))}
    assert weights["pretrained"].shape == weights["random"].shape
    assert not torch.allclose(weights["pretrained"], weights["random"])
    assert torch.equal(weights["random"], weights["again"])  # seeded
    assert sum(p.numel() for p in pretrained.parameters()) == sum(p.numel() for p in random.parameters())


def test_bad_input_is_one_line_exit_2(data_bin, model_dir, tmp_path):
    options = [*COMMON, "--max-update", "2", "--lr", "1e-3"]
    proc, result = hf_run(data_bin, model_dir, tmp_path / "adapter", "adapter", "pretrained",
                          [*options, "--adapter-dim", "8"], check=False)
    assert proc.returncode == 2 and "adapter has no peft twin" in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr and not result.exists()

    proc, _ = hf_run(tmp_path / "nothing", model_dir, tmp_path / "missing", "lora", "pretrained", options, check=False)
    assert proc.returncode == 2 and "labels.json" in proc.stderr and proc.stderr.strip().count("\n") == 0

    no_source = tmp_path / "model"
    no_source.mkdir()
    (no_source / "model_info.json").write_text(json.dumps({"train_args": [], "source": {"name": "roberta.base"}}))
    proc, _ = hf_run(data_bin, str(no_source), tmp_path / "nosource", "lora", "pretrained", options, check=False)
    assert proc.returncode == 2 and "hf_dir" in proc.stderr and proc.stderr.strip().count("\n") == 0

    help_text = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, env=ENV)
    assert help_text.returncode == 0 and "--result-json" in help_text.stdout


def tiny_config_dir(kind, directory):
    """A HuggingFace directory holding only a small config.json of each family (for --init random)."""
    import transformers

    shape = {"vocab_size": 120, "max_position_embeddings": 64}
    if kind == "bert":
        config = transformers.BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                         intermediate_size=64, **shape)
    elif kind == "roberta":
        config = transformers.RobertaConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                            intermediate_size=64, pad_token_id=1,
                                            **{**shape, "max_position_embeddings": 66})  # 2 offset rows
    else:
        config = transformers.DistilBertConfig(dim=32, n_layers=2, n_heads=4, hidden_dim=64, **shape)
    config.save_pretrained(directory)
    return str(directory)


@pytest.mark.parametrize("kind", ["bert", "roberta", "distilbert"])
def test_each_family_maps_targets_biases_and_head(kind, tmp_path):
    import torch

    hf_dir = tiny_config_dir(kind, tmp_path)
    names = hf_baseline.layer_module_names(kind)

    def built(method, *options, head="all"):
        model, family = hf_baseline.build_model(hf_dir, ["a", "b", "c"], "random", seed=2)
        assert family == kind and hf_baseline.model_max_length(model.config, family) == 64
        opts = hf_baseline.parse_fairseq_options(["--batch-size", "2", "--max-update", "1", "--head-trainable", head,
                                                  *options])
        return hf_baseline.apply_method(model, family, method, opts)

    model = built("lora", "--lora-targets", "fc2", "--lora-r", "2", head="out_proj")
    wrapped = {n.split("base_model.model.")[-1] for n, m in model.named_modules()
               if isinstance(getattr(m, "lora_A", None), torch.nn.ModuleDict)}
    prefix = {"bert": "bert.encoder.layer", "roberta": "roberta.encoder.layer",
              "distilbert": "distilbert.transformer.layer"}[kind]
    assert wrapped == {f"{prefix}.{i}.{names['fc2']}" for i in range(2)}  # never attention's output projection
    trainable, _ = hf_baseline.count_parameters(model)
    assert trainable == model.get_nb_trainable_parameters()[0] == 2 * (2 * 64 + 32 * 2) + 3 * 32 + 3
    logits = model(input_ids=torch.tensor([[0, 5, 6, 2], [0, 7, 2, 1]]), attention_mask=torch.tensor(
        [[1, 1, 1, 1], [1, 1, 1, 0]])).logits
    assert logits.shape == (2, 3)

    ia3 = built("ia3", "--ia3-targets", "k_proj,fc1", "--ia3-feedforward", "none", head="none")
    vectors = {n: p.numel() for n, p in ia3.named_parameters() if "ia3_l" in n}
    assert len(vectors) == 4 and sum(vectors.values()) == 2 * (32 + 64)  # output scaling: out widths
    assert hf_baseline.count_parameters(ia3)[0] == ia3.get_nb_trainable_parameters()[0] == 2 * (32 + 64)

    bitfit = built("bitfit", "--bitfit-biases", "q_proj,final_layer_norm,layernorm_embedding", head="bias")
    trained = {n for n, p in bitfit.named_parameters() if p.requires_grad}
    assert len(trained) == 2 * 2 + 1 + 2 and all(n.endswith("bias") for n in trained)
    full = built("full", head="all")
    assert hf_baseline.count_parameters(full)[0] == sum(p.numel() for p in full.parameters())


def test_pairs_are_encoded_as_pairs_and_truncated(model_dir):
    from transformers import AutoTokenizer

    info = json.loads(open(os.path.join(model_dir, "model_info.json")).read())
    tokenizer = AutoTokenizer.from_pretrained(info["source"]["hf_dir"])
    long_text = " ".join(["word"] * 40)
    data = hf_baseline.EncodedExamples(tokenizer, [(["the aspect", "a sentence"], 1), ([long_text, "short"], 0)], 16)
    first, second = data[0], data[1]
    assert tokenizer.decode(first["input_ids"]) == "[CLS] the aspect [SEP] a sentence [SEP]"
    assert first["token_type_ids"] == [0, 0, 0, 0, 1, 1, 1] and first["labels"] == 1
    assert len(second["input_ids"]) == 16 and second["input_ids"][-1] == tokenizer.sep_token_id


def test_full_run_ties_keep_the_later_checkpoint(data_bin, model_dir, tmp_path):
    """With lr 0 every validation ties: the best checkpoint is the last one, as fairseq's ``>=`` picks."""
    options = [*COMMON, "--max-update", "2", "--total-num-update", "2", "--lr", "0", "--validate-interval-updates", "1"]
    proc, result_path = hf_run(data_bin, model_dir, tmp_path / "full", "full", "pretrained", options)
    result = json.loads(result_path.read_text())
    assert proc.stdout.count("valid on 'valid' subset") == 2
    assert result["updates"] == 2 and result["best_updates"] == 2
    assert result["trainable_params"] == result["total_params"]
    assert (tmp_path / "full" / "checkpoint_best" / "model.safetensors").is_file()


@pytest.mark.parametrize("options,bf16", [([], False), (["--bf16"], False), (["--autocast-bf16"], True)])
def test_precision_options_on_a_cpu(options, bf16, tmp_path):
    """The plugin's --autocast-bf16 is the Trainer's bf16 autocast, on a CPU too; fairseq's --bf16 is GPU-only."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("the CPU mapping")
    opts = hf_baseline.parse_fairseq_options(["--batch-size", "8", "--max-update", "10", "--cpu", *options])
    arguments = hf_baseline.training_arguments(opts, str(tmp_path), 1, 10)
    assert arguments.use_cpu and arguments.bf16 is bf16
