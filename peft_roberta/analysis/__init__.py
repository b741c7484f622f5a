"""Results over seeds, without fairseq or torch: ``load`` (runs.jsonl files into a DataFrame),
``stats`` (intervals, Welch's and equivalence tests), ``aggregate`` (groups over seeds, Welch comparisons),
``sweeps`` (the configuration chosen on dev), ``tables`` and ``summary`` (Markdown), ``plots`` (matplotlib)
and ``outputs`` (the files aggregate_seeds.py writes, all at once)."""
