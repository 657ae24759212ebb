"""gridbot's benchmarks: each suite's run() returns rows of name, value, unit and note."""


def table(rows: list[dict]) -> str:
    """The rows as a Markdown table, as bench/results.md shows them."""
    lines = ["| benchmark | value | unit | note |", "|---|---:|---|---|"]
    lines += [f"| {r['name']} | {r['value']} | {r['unit']} | {r['note']} |" for r in rows]
    return "\n".join(lines)
