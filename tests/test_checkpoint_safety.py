"""Checkpoints load under torch's weights_only unpickler with an allowlist; anything else is refused."""
import os
import pickle
import subprocess
import sys

import pytest
import torch
from conftest import REPO, TINY_SHAPE, fairseq_train

import fairseq_plugins  # noqa: F401  (installs the allowlist and fairseq hooks)
from fairseq_plugins.checkpoints.safety import CheckpointError, safe_load


class _RunsShell:
    """Unpickling this object runs a shell command (the classic malicious checkpoint)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture
def malicious_checkpoint(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"model": {"w": torch.zeros(2)}, "cfg": {}, "payload": _RunsShell(marker)}, path)
    return path, marker


def test_fairseq_checkpoint_loads_under_weights_only(plain_checkpoint):
    state = safe_load(plain_checkpoint)
    assert type(state["cfg"]["model"]).__name__ == "Namespace"
    assert torch.load(plain_checkpoint, weights_only=True)["model"].keys() == state["model"].keys()


def test_malicious_checkpoint_is_refused(malicious_checkpoint):
    path, marker = malicious_checkpoint
    with pytest.raises(CheckpointError) as err:
        safe_load(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message and "system" in message
    assert not marker.exists()


def test_fairseq_loader_refuses_it_too(malicious_checkpoint):
    from fairseq import checkpoint_utils

    path, marker = malicious_checkpoint
    with pytest.raises(CheckpointError, match="refused to load.*system"):
        checkpoint_utils.load_checkpoint_to_cpu(str(path))
    assert not marker.exists()


def test_weights_only_stays_on(malicious_checkpoint):
    """Importing the plugin adds types to the allowlist; it does not switch the check off."""
    path, marker = malicious_checkpoint
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)
    assert not marker.exists()


def test_fairseq_train_refuses_a_malicious_restore_file(corpus, malicious_checkpoint, tmp_path):
    path, marker = malicious_checkpoint
    proc = fairseq_train(corpus["finetune_bin"], tmp_path / "run", "--arch", "roberta_peft", *TINY_SHAPE,
                         "--num-classes", "2", "--restore-file", str(path), "--max-epoch", "1", check=False)
    assert proc.returncode != 0
    assert "refused to load" in proc.stdout and not marker.exists()


def test_truncated_checkpoint_gives_one_line(plain_checkpoint, tmp_path):
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(plain_checkpoint.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="truncated or not a torch checkpoint") as err:
        safe_load(truncated)
    assert "\n" not in str(err.value)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        safe_load(tmp_path / "missing.pt")
    text = tmp_path / "notes.pt"
    text.write_text("hello world\n")
    with pytest.raises(CheckpointError, match="notes.pt: not a torch checkpoint"):
        safe_load(text)


def test_export_script_reports_a_refused_file_in_one_line(malicious_checkpoint, tmp_path):
    path, marker = malicious_checkpoint
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "export_checkpoint.py"), str(path),
                           str(tmp_path / "out")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "refused to load" in proc.stderr
    assert not marker.exists() and not (tmp_path / "out" / "model.pt").exists()
