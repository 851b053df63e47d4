"""Plain-text tables for the terminal: what `pmkt tables`, `pmkt models` and the metrics summary print."""

from __future__ import annotations

from collections.abc import Collection, Sequence


def columns(head: Sequence[str], body: Sequence[Sequence[str]], right: Collection[int] = ()) -> str:
    """`head` and `body` as aligned columns under a rule; the columns at the indexes in `right` align right."""
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]

    def line(row: Sequence[str]) -> str:
        cells = zip(row, widths, strict=True)
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(cells)).rstrip()

    return "\n".join([line(head), line(["-" * w for w in widths]), *(line(r) for r in body)])
