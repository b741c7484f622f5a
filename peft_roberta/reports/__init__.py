"""The course reports reproduced: trainable-parameter counts (``counts``), report 004's memory
arithmetic (``memory``), the accuracy findings and their verdicts (``findings``, ``verdicts``), and
the Markdown report filled from ``templates/`` (``render``). The published figures are in ``published``.

``memory``, ``published``, ``verdicts`` and ``templates`` import neither fairseq nor torch.
"""
