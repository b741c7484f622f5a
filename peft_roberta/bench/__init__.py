"""Speed, memory and time-to-accuracy measurements of fairseq + the plugin against HF Trainer + peft.

    benchmark.py        the driver of ``scripts/benchmark.py``: data, one child process per impl x method
    workers.py          what a child process measures (fairseq + plugin, HF as shipped, HF tuned)
    fairseq_run.py      fairseq + the plugin in-process: the recipe's options, fairseq's own Trainer
    hf_run.py           HF Trainer + peft: the two configurations ("hf" as shipped, "hf-tuned")
    flops.py            FLOPs of a training step and the matmul peak they are compared with
    report.py           the rows and the Markdown tables of benchmark.json / benchmark.md
    profile.py          ``scripts/profile_step.py``: one fairseq step's time and memory, broken down
    time_to_accuracy.py ``scripts/time_to_accuracy.py``: dev accuracy against training time
    models.py           the model of a measurement (a preset, a directory, or roberta.base's shape)
    prepare.py          the model and data prepared in a child process (profile.py's memory figures)
    measure.py          what they share: device, precision, memory figures, child processes

Every measurement of one implementation and method runs in its own process: its peak resident
memory is its own, and no library the other one imports weighs on it.
"""
