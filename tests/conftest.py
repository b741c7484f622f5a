"""Shared fixtures: a synthetic corpus binarized by fairseq, a plain RoBERTa checkpoint trained on it
by fairseq itself (no plugin), and helpers to build models and run ``fairseq-train``."""
import os
import subprocess
import sys
from pathlib import Path

if "PYTEST_XDIST_WORKER" in os.environ:  # one of pytest.ini's two processes: one thread each (before torch)
    os.environ["OMP_NUM_THREADS"] = "1"

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SHARED_DIR", REPO.parent / "shared"))
PLUGIN_DIR = REPO / "fairseq_plugins"
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import synthetic  # noqa: E402

# A RoBERTa small enough to train in seconds on two CPU cores.
TINY_SHAPE = [
    "--encoder-layers", "2", "--encoder-embed-dim", "64", "--encoder-ffn-embed-dim", "128",
    "--encoder-attention-heads", "4", "--max-positions", "64",
]
SENTENCE_PREDICTION = [
    "--task", "sentence_prediction", "--criterion", "sentence_prediction",
    "--init-token", "0", "--separator-token", "2",
]
TRAINING = [
    "--batch-size", "32", "--optimizer", "adam", "--lr", "3e-3", "--cpu", "--seed", "1",
    "--log-format", "simple", "--log-interval", "10", "--no-epoch-checkpoints",
    "--best-checkpoint-metric", "accuracy", "--maximize-best-checkpoint-metric", "--num-workers", "0",
]


def fairseq_train(data, save_dir, *args, plugin=True, check=True):
    """Run the real ``fairseq-train`` in a subprocess; returns the CompletedProcess (log in .stdout)."""
    cmd = [sys.executable, "-m", "fairseq_cli.train", str(data), "--save-dir", str(save_dir),
           *SENTENCE_PREDICTION, *TRAINING, *args]
    if plugin:
        cmd += ["--user-dir", str(PLUGIN_DIR)]
    env = {"OMP_NUM_THREADS": "2", **os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"fairseq-train failed ({proc.returncode}):\n{proc.stdout[-4000:]}")
    return proc


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """The synthetic corpus: raw text, a sentencepiece model and two data-bins."""
    return synthetic.build(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="session")
def plain_checkpoint(corpus, tmp_path_factory):
    """A plain fairseq ``roberta`` checkpoint, trained by fairseq without the plugin on the 4-way task."""
    save_dir = tmp_path_factory.mktemp("plain")
    fairseq_train(corpus["pretrain_bin"], save_dir, "--arch", "roberta", *TINY_SHAPE, "--num-classes", "4",
                  "--classification-head-name", "pretraining_head", "--max-epoch", "2", plugin=False)
    return save_dir / "checkpoint_best.pt"


def build_model(data_dir, *model_args, seed=1, num_classes=2):
    """Build a model and its task in-process through fairseq's own argument parsing."""
    import torch
    from fairseq import options, tasks
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf

    parser = options.get_training_parser()
    argv = [str(data_dir), "--user-dir", str(PLUGIN_DIR), *SENTENCE_PREDICTION, "--cpu",
            "--num-classes", str(num_classes), *model_args]
    args = options.parse_args_and_arch(parser, input_args=argv)
    cfg = convert_namespace_to_omegaconf(args)
    torch.manual_seed(seed)
    task = tasks.setup_task(cfg.task)
    model = task.build_model(cfg.model)
    return model, task, cfg


def write_dictionaries(root: Path, vocab_size: int, num_classes: int = 2):
    """A data directory holding only dictionaries: enough to build a model of a given vocabulary size.

    fairseq adds 4 special symbols to dict.txt and the task adds <mask>, so the embedding has
    ``vocab_size`` rows when dict.txt lists ``vocab_size - 5`` words.
    """
    (root / "input0").mkdir(parents=True, exist_ok=True)
    (root / "label").mkdir(parents=True, exist_ok=True)
    (root / "input0" / "dict.txt").write_text("".join(f"word{i} 1\n" for i in range(vocab_size - 5)))
    (root / "label" / "dict.txt").write_text("".join(f"class{i} 1\n" for i in range(num_classes)))
    return root


@pytest.fixture(scope="module")
def batch(corpus):
    """A padded batch of real binarized sentences of different lengths, as the task builds them."""
    from fairseq.data import data_utils

    _, task, _ = build_model(corpus["finetune_bin"], "--arch", "roberta_peft", *TINY_SHAPE)
    lines = (corpus["raw"] / "valid.bpe").read_text().splitlines()[:12]
    tokens = [task.source_dictionary.encode_line("<s> " + line, append_eos=True, add_if_not_exist=False).long()
              for line in lines]
    assert len({len(t) for t in tokens}) > 1, "the batch must contain padding"
    return data_utils.collate_tokens(tokens, pad_idx=task.source_dictionary.pad())


def logits(model, tokens):
    """Classification logits of ``model`` in eval mode."""
    import torch

    model.eval()
    with torch.no_grad():
        return model(tokens, classification_head_name="sentence_classification_head")[0]


def hub_for(corpus, **kwargs):
    """The hub interface of a checkpoint trained on the synthetic corpus (its sentencepiece model)."""
    from peft_roberta.models.hub import from_pretrained

    return from_pretrained(data=str(corpus["finetune_bin"]), bpe="sentencepiece",
                           sentencepiece_model=str(corpus["spm_model"]), **kwargs)


def valid_examples(corpus):
    texts = (corpus["raw"] / "valid.txt").read_text().splitlines()
    labels = (corpus["raw"] / "valid.label").read_text().splitlines()
    return texts, labels


def hub_logits(hub, texts):
    """Logits of ``texts`` through the hub interface, in one padded batch (the encoder masks the padding)."""
    import torch
    from fairseq.data import data_utils

    hub.eval()
    tokens = data_utils.collate_tokens([hub.encode(t) for t in texts], pad_idx=hub.task.source_dictionary.pad())
    with torch.no_grad():
        return hub.predict("sentence_classification_head", tokens, return_logits=True)


def hub_valid_accuracy(corpus, checkpoint):
    """Accuracy on the synthetic corpus's valid split of a checkpoint loaded through the hub interface."""
    texts, labels = valid_examples(corpus)
    hub = hub_for(corpus, checkpoint=str(checkpoint))
    predicted = hub_logits(hub, texts).argmax(-1).tolist()
    label_of = hub.task.label_dictionary
    return sum(label_of.string([p + label_of.nspecial]) == y for p, y in zip(predicted, labels)) / len(labels)


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread while a module runs (two cores may be shared with other jobs), restored after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def run_dir(work_dir, recipe, init="pretrained", seed=1, impl="fairseq"):
    """The checkpoint folder of one run of a recipe: ``<impl>.<init>.seed<seed>.<run id>`` (exactly one)."""
    found = [p for p in (Path(work_dir) / "checkpoints" / recipe).glob(f"{impl}.{init}.seed{seed}.*") if p.is_dir()]
    assert len(found) == 1, f"expected one {impl}.{init}.seed{seed} run folder, found {found}"
    return found[0]


def load_script(name):
    """A script of scripts/ imported as a module."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_one_step_moves_only_trained(model, batch, expect_trained, off_zero):
    """One Adam step: every trained parameter (names containing one of ``expect_trained``) moves;
    frozen ones get no gradient and stay bit-identical. Parameters named with ``off_zero`` (zero-init
    up-projections) are first moved off zero so that the projections before them get a gradient."""
    import torch

    for name, param in model.named_parameters():
        if off_zero in name:
            torch.nn.init.normal_(param, std=0.05)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trained and all(any(key in n for key in expect_trained) for n in trained)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    model.train()
    out = model(batch, classification_head_name="sentence_classification_head")[0]
    torch.nn.functional.cross_entropy(out, torch.arange(len(batch)) % 2).backward()
    optimizer.step()
    for name, param in model.named_parameters():
        if name in trained:
            assert not torch.equal(param, before[name]), f"{name} should have moved"
        else:
            assert param.grad is None, f"{name} is frozen but got a gradient"
            assert torch.equal(param, before[name]), f"{name} is frozen but changed"


def plain_fairseq_logits(corpus, model_dir, work_dir, count=40):
    """Logits of the first ``count`` valid sentences from fairseq's own RobertaModel loading
    ``model_dir/model.pt`` in a fresh process that never imports the plugin."""
    import textwrap

    import torch

    probe = textwrap.dedent(f"""
        import sys, torch
        from fairseq.models.roberta import RobertaModel
        hub = RobertaModel.from_pretrained({str(model_dir)!r}, checkpoint_file="model.pt", bpe="sentencepiece",
                                           sentencepiece_model={str(corpus["spm_model"])!r})
        assert "fairseq_plugins" not in sys.modules and type(hub.model).__name__ == "RobertaModel"
        hub.eval()
        texts = open({str(corpus["raw"] / "valid.txt")!r}).read().splitlines()[:{count}]
        with torch.no_grad():
            out = torch.cat([hub.predict("sentence_classification_head", hub.encode(t), return_logits=True)
                             for t in texts])
        torch.save(out, {str(work_dir / "plain_logits.pt")!r})
    """)
    subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, cwd=work_dir)
    return torch.load(work_dir / "plain_logits.pt")
