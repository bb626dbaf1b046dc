"""Plain-text tables for the benchmark results (pure: rows in, text out)."""

from __future__ import annotations

from typing import Any, Sequence


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def table(title: str, rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """`title`, then one aligned line per row; columns that no row fills are left out.

    >>> print(table("t", [{"a": 1, "b": 2.5}], [("a", "A"), ("b", "B"), ("c", "C")]))
    t
    A  B
    -  ----
    1  2.50
    """
    used = [(key, head) for key, head in columns if any(row.get(key) not in (None, "") for row in rows)]
    grid = [[head for _key, head in used]] + [[_cell(row.get(key)) for key, _head in used] for row in rows]
    widths = [max(len(line[n]) for line in grid) for n in range(len(used))]
    lines = ["  ".join(text.ljust(w) for text, w in zip(line, widths)).rstrip() for line in grid]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join([title, *lines])


def growth_table(scaling: dict[str, dict[str, dict[str, float]]]) -> str:
    """Growth factors (value at k× ÷ value at 1×; linear growth is k), one line per figure."""
    rows = []
    for section, figures in scaling.items():
        for figure, by_size in figures.items():
            rows.append({"figure": f"{section}.{figure}", **by_size})
    sizes: list[str] = []
    for row in rows:
        sizes += [k for k in row if k != "figure" and k not in sizes]
    return table("Scaling (growth factor from the smallest size)", rows, [("figure", "figure")] + [(s, s) for s in sizes])
