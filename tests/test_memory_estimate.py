"""Tests for scripts/memory_estimate.py and its estimator, peft_roberta.reports.memory."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from peft_roberta.reports import memory as memory_estimate
from peft_roberta.reports.memory import estimate, parse_count

from conftest import load_script  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "scripts"




main = load_script("memory_estimate").main

GIB = 2 ** 30


def component(result, prefix):
    matches = [c["bytes"] for c in result["components"] if c["component"].startswith(prefix)]
    assert len(matches) == 1, (prefix, result["components"])
    return matches[0]


def test_report_004_figures():
    result = estimate(3e9, "fp32", 0.05, "added", "adam")
    # Report 004: full = 4 copies of 3e9 fp32 values; adapters = frozen weights + 4 copies of 5%.
    assert round(result["full_finetune_bytes"] / GIB, 3) == 44.703
    assert round(result["total_bytes"] / GIB, 3) == 13.411
    assert round(result["saving_bytes"] / GIB, 3) == 31.292
    weights = component(result, "frozen model weights")
    assert round(weights / GIB, 3) == 11.176
    assert round(weights / 1e9, 3) == 12.000
    assert result["total_bytes"] == 3e9 * 4 + 0.05 * 3e9 * 4 * 4
    assert result["full_finetune_bytes"] == 4 * 3e9 * 4


def test_full_fine_tuning_saves_nothing_and_matches_16_bytes_per_param():
    result = estimate(3e9)
    assert result["total_bytes"] == result["full_finetune_bytes"] == 16 * 3_000_000_000
    assert result["saving_bytes"] == 0


def test_subset_mode_stores_no_extra_weights():
    params, fraction = 125_000_000, 0.001
    result = estimate(params, "fp32", fraction, "subset", "adam")
    trained = 125_000
    assert result["trainable_params"] == trained
    # weights are already counted once; trained params add a gradient and Adam m, v
    assert result["total_bytes"] == params * 4 + trained * (4 + 8)
    assert result["stored_params"] == params
    added = estimate(params, "fp32", fraction, "added", "adam")
    assert added["total_bytes"] - result["total_bytes"] == trained * 4


def test_mixed_precision_hand_arithmetic():
    params = 3_000_000_000
    full = estimate(params, "mixed")
    assert full["total_bytes"] == params * (2 + 2 + 4 + 8)
    peft = estimate(params, "mixed", 0.05, "added")
    trained = 150_000_000
    # frozen 16-bit weights; trained: 16-bit weight + 16-bit grad + fp32 master + fp32 m, v
    assert peft["total_bytes"] == params * 2 + trained * (2 + 2 + 4 + 8)
    assert component(peft, "fp32 master weights") == trained * 4


def test_sgd_has_no_optimizer_state():
    result = estimate(1_000_000, "fp32", optimizer="sgd")
    assert result["total_bytes"] == 1_000_000 * 8
    assert not any("Adam" in c["component"] for c in result["components"])


@pytest.mark.parametrize("text, expected", [
    ("3e9", 3_000_000_000), ("3B", 3_000_000_000), ("125M", 125_000_000),
    ("125m", 125_000_000), ("1.5k", 1500), ("22_713_216", 22_713_216), ("2.5e3", 2500),
])
def test_parse_count(text, expected):
    assert parse_count(text) == expected


@pytest.mark.parametrize("text", ["abc", "3X", "-5", "0", "", "1e"])
def test_parse_count_rejects(text):
    with pytest.raises(ValueError):
        parse_count(text)


def test_activations_match_korthikanti_for_16_bit():
    batch, seq, layers, hidden, heads = 8, 256, 12, 768, 12
    result = estimate(125e6, "mixed", batch=batch, seq_len=seq, layers=layers,
                      hidden=hidden, heads=heads)
    paper = layers * seq * batch * hidden * (34 + 5 * heads * seq / hidden)
    assert component(result, "activations") == paper


def test_activations_fp32_tensor_by_tensor():
    batch, seq, hidden, heads, ffn = 2, 16, 64, 4, 100
    sbh, sbf, scores = seq * batch * hidden, seq * batch * ffn, heads * seq * seq * batch
    fp32, mask = 4, 1
    kept = [
        fp32 * sbh,                      # input of the Q/K/V projection
        2 * fp32 * sbh,                  # Q and K
        fp32 * scores, mask * scores,    # softmax output, attention dropout mask
        fp32 * scores,                   # attention dropout output
        fp32 * sbh, fp32 * sbh,          # V, output-projection input
        mask * sbh,                      # attention output dropout mask
        fp32 * sbh, 2 * fp32 * sbf,      # FFN input, GELU input and output
        mask * sbh,                      # FFN dropout mask
        2 * fp32 * sbh,                  # two LayerNorm inputs
    ]
    result = estimate(1000, "fp32", batch=batch, seq_len=seq, layers=3, hidden=hidden,
                      heads=heads, ffn=ffn)
    assert component(result, "activations") == 3 * sum(kept)
    # activations count in the baseline too, so they do not change the saving
    peft = estimate(1000, "fp32", 0.1, "added", batch=batch, seq_len=seq, layers=3,
                    hidden=hidden, heads=heads, ffn=ffn)
    plain = estimate(1000, "fp32", 0.1, "added")
    assert peft["saving_bytes"] == plain["saving_bytes"]


def test_estimate_rejects_bad_arguments():
    with pytest.raises(ValueError):
        estimate(1000, trainable_fraction=1.5, peft_mode="subset")
    with pytest.raises(ValueError):
        estimate(1000, batch=2, seq_len=8)  # layers, hidden, heads missing
    with pytest.raises(ValueError):
        estimate(1000, precision="fp8")


def test_help_describes_byte_model(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "--preset" in out and "report004" in out
    assert "fp32 master weights" in out and "Korthikanti" in out


def test_cli_table_shows_both_units(capsys):
    assert main(["--preset", "report004"]) == 0
    out = capsys.readouterr().out
    weights_line = next(line for line in out.splitlines() if line.startswith("frozen model"))
    assert "11.176" in weights_line and "12.000" in weights_line
    total_line = next(line for line in out.splitlines() if line.startswith("total"))
    assert "13.411" in total_line and "14.400" in total_line
    assert "44.703" in out and "31.292" in out
    assert "GiB = 2^30 bytes" in out


def test_cli_explicit_options_override_preset(capsys):
    assert main(["--preset", "report004", "--peft-mode", "subset", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["peft_mode"] == "subset"
    assert result["total_bytes"] == 3e9 * 4 + 0.05 * 3e9 * 12


def test_cli_preset_architecture_used_for_activations(capsys):
    assert main(["--preset", "roberta-base", "--batch", "4", "--seq-len", "64", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    shape = result["activation_shape"]
    assert (shape["layers"], shape["hidden"], shape["heads"], shape["ffn"]) == (12, 768, 12, 3072)
    expected = memory_estimate.activation_bytes(4, 64, 12, 768, 12, 3072, 4)
    assert component(result, "activations") == expected


@pytest.mark.parametrize("argv, option", [
    (["--params", "lots"], "--params"),
    (["--params", "3B", "--trainable-fraction", "0"], "--trainable-fraction"),
    (["--params", "3B", "--trainable-fraction", "2", "--peft-mode", "subset"],
     "--trainable-fraction"),
    (["--params", "3B", "--batch", "8"], "--seq-len"),
    (["--params", "3B", "--peft-mode", "added"], "--trainable-fraction"),
    ([], "--params"),
])
def test_cli_errors_are_one_line(capsys, argv, option):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and option in lines[0]


def test_subprocess_json_and_bad_params():
    script = str(SCRIPTS / "memory_estimate.py")
    done = subprocess.run([sys.executable, script, "--params", "3e9", "--trainable-fraction",
                           "0.05", "--peft-mode", "added", "--json"],
                          capture_output=True, text=True, check=True)
    result = json.loads(done.stdout)
    assert round(result["total_GiB"], 3) == 13.411
    assert round(result["full_finetune_GiB"], 3) == 44.703
    assert round(result["saving_GiB"], 3) == 31.292

    bad = subprocess.run([sys.executable, script, "--params", "3Q"],
                         capture_output=True, text=True)
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and "--params" in bad.stderr


def test_units_note_is_computed_from_the_preset():
    note = memory_estimate.units_note()
    assert "'11.76 GB' of weights is 11.176 GiB = 12.000 GB" in note
    assert note.startswith("GiB = 2^30 bytes, GB = 10^9 bytes.")


def test_estimator_imports_neither_fairseq_nor_torch():
    code = ("import sys, peft_roberta.reports.memory; "
            "assert 'fairseq' not in sys.modules and 'torch' not in sys.modules")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
