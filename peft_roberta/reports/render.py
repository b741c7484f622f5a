"""reports.md from the computed counts, memory figures and findings: the prose is ``templates/*.md``
filled with computed values (``templates.fill``), the tables are ``analysis.tables.markdown_rows``.
"""
from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path

from .. import machine

from ..analysis.tables import count, markdown_rows
from .counts import DISTILBERT_SHAPE, ROBERTA_SMALL
from .memory import GB, GIB, PRESETS
from ..published import PUBLISHED
from .templates import fill, listing
from .verdicts import rules_values


def _same(a, b) -> str:
    return "yes" if a == b else f"no ({a - b:+,})"


def _shape(shape) -> str:
    return " × ".join(str(size) for size in shape)


def _linear(layer: dict) -> str:
    """``in × out + out = params`` of a linear layer."""
    return f"{layer['in']} × {layer['out']} + {layer['out']} = {layer['params']:,}"


def _heads(names) -> str:
    return ", ".join(f"`{name}`" for name in names) or "none"


def _position_note(shapes: dict) -> dict:
    ours, theirs = shapes["positions"], shapes["hf_positions"]
    return {"positions": _shape(ours), "hf_positions": _shape(theirs), "extra_rows": ours[0] - theirs[0]}


def render_000(rows: list, shapes: dict) -> str:
    body = [[str(row["rank"]), count(row["ours"]), count(row["peft"]), count(row["published"]),
             _same(row["ours"], row["published"]), _same(row["ours"], row["peft"]),
             f"{row['lora']:,} + {row['ours_head']:,}", f"{row['ours_total']:,} / {row['peft_total']:,}"]
            for row in rows]
    table = markdown_rows(["r", "ours", "peft", "published", "ours = published", "ours = peft",
                           "ours: LoRA + head", "total: ours / HF"], body)
    heads = rows[0]["peft_heads"]
    head_note = fill("counts", "000_head_classifier", classifier=_linear(shapes["classifier"])) \
        if heads == ["classifier"] else fill("counts", "000_head_other")
    differences = [row["ours_total"] - row["peft_total"] for row in rows]
    totals = dict(token_types=_shape(shapes["token_types"]), **_position_note(shapes),
                  differences=", ".join(f"{d:+,}" for d in differences))
    totals_note = fill("counts", "totals_agree" if not any(differences) else "totals_differ", **totals)
    return fill("counts", "000", vocab=f"{shapes['vocab']:,}", table=table, heads=_heads(heads),
                head_note=head_note, totals_note=totals_note)


def render_002(c: dict) -> str:
    published = PUBLISHED["002"]["trainable"]
    table = markdown_rows(["method", "ours", "HF", "published", "ours = published", "ours = HF"], [
        ["BitFit: all biases, head biases only (`--peft bitfit --bitfit-biases all --head-trainable bias`)",
         count(c["bitfit"]), count(c["hf_bitfit"]), count(published["bitfit"]), _same(c["bitfit"], published["bitfit"]),
         _same(c["bitfit"], c["hf_bitfit"])],
        ["full (`--peft none`)", count(c["full"]), count(c["hf_full"]), count(published["full"]),
         _same(c["full"], published["full"]), _same(c["full"], c["hf_full"])],
    ])
    positions = _position_note(c)
    position_params = positions["extra_rows"] * c["positions"][1]
    if position_params == c["token_types"]:
        cancel = fill("counts", "002_cancel", cancelled=f"{position_params:,}")
    else:
        cancel = fill("counts", "002_no_cancel", token_types=f"{c['token_types']:,}",
                      position_params=f"{position_params:,}")
    parts = c["lm_head_parts"]
    full_verdict = "matches" if c["full"] == published["full"] else f"differs ({c['full'] - published['full']:+,})"
    shape = {**c["shape"], "vocab": f"{c['shape']['vocab']:,}"}
    return fill("counts", "002", **shape, table=table,
                bitfit=f"{c['bitfit']:,}", bitfit_head=f"{c['bitfit_head']:,}", pooler_bias=c["pooler_bias"],
                classifier_bias=c["classifier_bias"], full_verdict=full_verdict, token_types=f"{c['token_types']:,}",
                token_type_shape=_shape(c["token_type_shape"]), **positions, cancel=cancel,
                lm_head=f"{c['lm_head']:,}", lm_dense=f"{parts.get('dense', 0):,}",
                lm_norm=f"{parts.get('layer_norm', 0):,}", lm_bias=f"{parts.get('bias', 0):,}",
                with_lm_head=f"{c['full'] + c['lm_head']:,}")


def render_003(rows: list, shapes: dict) -> str:
    body = [[row["label"], f"`{row['options']}`", count(row["ours"]), count(row["peft"]),
             _same(row["ours"], row["peft"]), f"{row['ours_head']:,} / {row['peft_head']:,}", "– (none given)"]
            for row in rows]
    table = markdown_rows(["configuration", "our options", "ours", "peft", "ours = peft",
                           "of which head: ours / peft", "published"], body)
    heads = rows[0]["peft_heads"]
    pre, classifier = shapes["pre_classifier"], shapes["classifier"]
    if "pre_classifier" in heads:
        head_note = fill("counts", "003_whole_head", head=f"{pre['params'] + classifier['params']:,}",
                         pre_classifier_params=f"{pre['params']:,}")
    else:
        head_note = fill("counts", "003_classifier_only", pre_classifier_params=f"{pre['params']:,}")
    positions = _position_note(shapes)
    dim = shapes["positions"][1]
    s = DISTILBERT_SHAPE
    return fill("counts", "003", layers=s["n_layers"], dim=s["dim"], heads=s["n_heads"], ffn=s["hidden_dim"],
                vocab=f"{s['vocab_size']:,}", vocab_plain=s["vocab_size"], table=table,
                pre_classifier=_linear(pre), classifier=_linear(classifier), trained_heads=_heads(heads),
                head_note=head_note,
                totals="; ".join(f"{row['ours_total']:,} / {row['peft_total']:,}" for row in rows),
                extra_rows=positions["extra_rows"],
                position_params=f"{positions['extra_rows']} × {dim} = {positions['extra_rows'] * dim:,}")


def render_001(c: dict) -> str:
    published = count(PUBLISHED["001"]["formula"])
    table = markdown_rows(["count", "value", "published"], [
        ["formula", count(c["formula"]), published],
        ["model: embeddings + layer weight matrices", f"{c['counted']:,} ({c['embeddings']:,} + {c['matrices']:,})",
         published],
        ["model: every parameter (biases, LayerNorms, classification head; no LM head)", count(c["whole"]), "–"],
    ])
    s = ROBERTA_SMALL
    return fill("counts", "001", layers=s["layers"], d=s["d"], d_ff=s["d_ff"], n_pos=s["n_pos"],
                vocab=f"{s['vocab']:,}", table=table)


def render_counts(counts: dict) -> list:
    return [fill("counts", "intro"), render_000(counts["000"], counts["shapes"]["000"]), render_002(counts["002"]),
            render_003(counts["003"], counts["shapes"]["003"]), render_001(counts["001"])]


def _decimals(text: str) -> int:
    return len(text.partition(".")[2])


def render_memory(memory: dict) -> list:
    result, preset = memory["result"], memory["preset"]
    gib, gb, published = memory["gib"], memory["gb"], PUBLISHED["004"]["memory"]
    fraction = f"{preset['trainable_fraction']:.0%}"
    components = markdown_rows([f"component (adapters of {fraction})", "bytes", "GiB", "GB"], [
        [c["component"], f"{c['bytes']:,}", f"{c['bytes'] / GIB:.3f}", f"{c['bytes'] / GB:.3f}"]
        for c in result["components"]])
    labels = {"full_finetune": "full fine-tuning", "total": f"adapters of {fraction}", "saving": "saving"}
    rows = [[labels[key], f"{gib[key]:.3f}", f"{gb[key]:.3f}", published[key]] for key in labels]
    rows.append([f"model weights ({preset['precision']})", f"{memory['weights_gib']:.3f}",
                 f"{memory['weights_gb']:.3f}", published["weights"]])
    figures = markdown_rows(["figure", "ours, GiB", "ours, GB", "published (written \"GB\")"], rows)
    exact = all(round(gib[key], _decimals(published[key])) == float(published[key]) for key in labels)
    ours_gib = ", ".join(f"{gib[key]:.3f}" for key in labels)
    weights = {"published": published["weights"], "gib": f"{memory['weights_gib']:.3f}",
               "gb": f"{memory['weights_gb']:.3f}"}
    weights_exact = round(memory["weights_gib"], _decimals(published["weights"])) == float(published["weights"])
    optimizer = "Adam" if preset["optimizer"] == "adam" else preset["optimizer"]
    setting = (f"{preset['params'] / 1e9:g}B parameters, {preset['precision']}, {optimizer}, "
               f"adapters of {fraction}")
    return [fill("memory", "section", setting=setting, components=components, figures=figures,
                 gib_definition=f"2^{GIB.bit_length() - 1} bytes", gb_definition=f"10^{len(str(GB)) - 1} bytes",
                 published=listing(published[key] for key in labels),
                 gib_verdict=fill("memory", "gib_exact" if exact else "gib_differ", ours_gib=ours_gib),
                 ours_gb=listing(f"{gb[key]:.3f}" for key in labels),
                 weights_verdict=fill("memory", "weights_exact" if weights_exact else "weights_slip", **weights))]


def render_findings(results: list, tables_only: bool, work_dir: Path) -> list:
    shape = PRESETS["minilm"]
    out = [fill("findings", "intro", minilm_shape=f"{shape['layers']} × {shape['hidden']}", work_dir=work_dir,
                tables_only_note="; with `--tables-only` no recipe was run." if tables_only else ".",
                rules=fill("findings", "rules", **rules_values()),
                report003_examples=PUBLISHED["003"]["validation_examples"])]
    summary = []
    for finding, lines, verdicts in results:
        block = [fill("findings", "finding", report=finding.report, title=finding.title,
                      published=finding.published, compared=finding.compared), "\n".join(lines).strip("\n")]
        block += [f"**Finding {verdict.label}**: {verdict.reason}" for verdict in verdicts]
        out.append("\n\n".join(block))
        summary.append([finding.report, finding.title, "; ".join(v.label for v in verdicts),
                        " ".join(f"`{r.command(work_dir)}`" for r in finding.runs)])
    out.append(fill("findings", "summary", table=markdown_rows(["report", "finding", "verdict", "command"], summary)))
    return out


def profile_name() -> str:
    """The recipes' profile: PROFILE from the environment, else paper with a GPU, quick without."""
    if os.environ.get("PROFILE"):
        return f"{os.environ['PROFILE']} (PROFILE from the environment)"
    try:
        import torch

        gpu = torch.cuda.is_available()
    except ImportError:
        gpu = False
    return "paper (a GPU is present)" if gpu else "quick (the recipes' default without a GPU)"


def render(counts, memory, results, tables_only, work_dir: Path, commands: list) -> str:
    """The whole reports.md."""
    now = datetime.datetime.now().astimezone()
    header = fill("header", "header", cpu=machine.cpu_name(), cores=os.cpu_count(), system=platform.system(),
                  machine=platform.machine(), date=f"{now:%Y-%m-%d %H:%M %Z}", profile=profile_name(),
                  work_dir=work_dir, commands="\n".join(commands),
                  tables_only=" (`--tables-only`: no recipe run by this call)" if tables_only else "")
    parts = [header] + render_counts(counts) + render_memory(memory) + render_findings(results, tables_only, work_dir)
    return "\n\n".join(part.strip("\n") for part in parts if part.strip()) + "\n"
