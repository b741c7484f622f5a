"""Markdown tables from pandas (``DataFrame.to_markdown``), and the cell formats every table here uses."""
import math

import pandas as pd


def markdown(frame: pd.DataFrame) -> str:
    """A GitHub Markdown table of ``frame`` (its index left out); cells are shown as they are, a ``|``
    inside a cell escaped."""
    escape = lambda value: value.replace("|", "\\|") if isinstance(value, str) else value  # noqa: E731
    frame = frame.rename(columns=escape).map(escape)
    return frame.to_markdown(index=False, disable_numparse=True)


def markdown_rows(header, rows) -> str:
    """A Markdown table from a header and a list of rows."""
    return markdown(pd.DataFrame(list(rows), columns=list(header)))


def mean_std(mean, std, n, digits=2) -> str:
    """``mean ± std (n)``; ``mean (1)`` for a single run; ``–`` when there is no value."""
    if n is None or n == 0 or mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    if n < 2 or std is None or (isinstance(std, float) and math.isnan(std)):
        return f"{mean:.{digits}f} ({int(n)})"
    return f"{mean:.{digits}f} ± {std:.{digits}f} ({int(n)})"


def count(value) -> str:
    """An integer with thousands separators, ``–`` for none."""
    return "–" if value is None else f"{int(value):,}"
