"""A small load replay (the benchmark's code, 500 messages over 30 groups, at the fastest rate the
bot takes): nothing lost, nothing made twice. `make bench` runs the full 20,000 over 300 groups."""

from __future__ import annotations

from bench.load_bench import load


async def test_a_burst_of_500_messages_over_30_groups_loses_nothing_and_makes_nothing_twice(tmp_path,
                                                                                         shipped_models):
    result = await load(500, 30, tmp_path, shipped_models[0], seed=7)
    # load() has checked every message at its end once and every ticket once in the backend.
    assert result["stored"] >= 480 and result["tickets"] >= 200
    assert result["answered"] >= result["tickets"]
    assert result["handle_p99"] < 1000
