"""The course reports' published figures, as written in ``../shared/REFERENCES.md`` (and report 004's
memory table). They are data to compare with, never computed here; everything beside them in the
reports is computed. Accuracies keep the unit the report used (001 in percent, 002 and 004 as
fractions); memory figures are the report's text (so "11.76" keeps its two decimals).
"""

PUBLISHED = {
    "000": {
        "model": "bert-base-uncased",
        "trainable": {1: 19_970, 4: 75_266, 16: 296_450},  # LoRA rank -> trainable parameters
        "lr": "1e-3", "batch": 16, "epochs": 5,
        "sst2_accuracy": 0.9,  # "SST-2 ≈ 0.9" for every rank
    },
    "001": {
        "layers": 4, "d": 512, "vocab": 32_000, "epochs": 5, "seeds": (0, 1, 2),
        "formula": 22_807_552,
        "test_accuracy": {"pretrained": (79.9, 80.0, 83.5), "random": (67.5, 68.1, 67.4)},  # percent
    },
    "002": {
        "layers": 2, "hidden": 128, "epochs": 4,
        "grid": {"batch": ("8", "16", "32", "64", "128"), "lr": ("3e-4", "1e-4", "5e-5", "3e-5")},
        "trainable": {"bitfit": 3_074, "full": 4_386_178},
        "full": {"dev": 0.888, "test": 0.876, "lr": "3e-4", "batch": 64},
        "bitfit": {"dev": 0.624, "test": 0.623, "lr": "3e-4", "batch": 16},
    },
    "003": {
        "validation_examples": 32,
        # the four configurations (no count published); "targets": attention = q, k, v, out;
        # all = attention + the feed-forward lin1, lin2 (IA3: lin1, lin2 as feed-forward modules)
        "configurations": (
            {"method": "lora", "r": 64, "alpha": 16, "dropout": 0.1, "targets": "attention"},
            {"method": "lora", "r": 64, "alpha": 16, "dropout": 0.1, "targets": "all"},
            {"method": "lora", "r": 32, "alpha": 32, "dropout": 0.2, "targets": "attention"},
            {"method": "ia3", "targets": "all"},
        ),
    },
    "004": {
        "model": "roberta-base", "seeds": 5, "epochs": 70,
        # (mean, std) over seeds, as fractions
        "full": {"accuracy": (0.857, 0.004), "macro_f1": (0.780, 0.007)},
        "adapter": {"accuracy": (0.826, 0.003), "macro_f1": (0.719, 0.008)},
        # report 004's memory figures for a 3B model, written "GB"
        "memory": {"full_finetune": "44.703", "total": "13.411", "saving": "31.292", "weights": "11.76"},
    },
}

# GLUE dev, RoBERTa-base: the rows PEFT papers print (LoRA paper, Table 2; He et al. 2022, Table 2),
# x 100; the LoRA paper's are medians of 5 seeds, "± x" its spread. MNLI matched accuracy, CoLA
# Matthews correlation, STS-B Pearson, the others accuracy. None: not reported.
GLUE_TASK_ORDER = ("mnli", "sst2", "mrpc", "cola", "qnli", "qqp", "rte", "stsb")
GLUE_PUBLISHED = (
    ("LoRA paper, full FT (125M)", dict(mnli=87.6, sst2=94.8, mrpc=90.2, cola=63.6, qnli=92.8, qqp=91.9, rte=78.7,
                                        stsb=91.2)),
    ("LoRA paper, BitFit (0.1M)", dict(mnli=84.7, sst2=93.7, mrpc=92.7, cola=62.0, qnli=91.8, qqp=84.0, rte=81.5,
                                       stsb=90.8)),
    ("LoRA paper, Adapter-D (0.3M)", dict(mnli=87.1, sst2=94.2, mrpc=88.5, cola=60.8, qnli=93.1, qqp=90.2,
                                          rte=71.5, stsb=89.7)),
    ("LoRA paper, LoRA (0.3M)", dict(mnli=87.5, sst2=95.1, mrpc=89.7, cola=63.4, qnli=93.3, qqp=90.8, rte=86.6,
                                     stsb=91.5)),
    ("He et al. 2022, MAM adapter (0.5%)", dict(mnli=87.4, sst2=94.2)),
)
