"""The project's library: everything around the fairseq plugin that the scripts and recipes run.

    data/      reading, checking, tokenizing and binarizing datasets; downloading them
    models/    model directories: presets, HuggingFace conversion, the hub interface
    runs/      recipe settings, run identity, one training run, its evaluation, runs.jsonl
    hf/        the HuggingFace (transformers + peft) twin of a fairseq run
    analysis/  statistics over seeds, aggregated tables and plots
    reports/   the course reports reproduced
    bench/     speed and memory benchmarks, step profiles

Importing this package, or a module that needs no fairseq (``metrics``, ``analysis.stats``,
``data.readers``), imports neither fairseq nor torch. ``fairseq_plugins`` (the user directory
fairseq loads) never imports this package.
"""
