"""The load check at a small size: participants at once against uvicorn on loopback, some
answers sent twice; every answer stored exactly once, none lost, in order (`make bench-human`
runs 50 participants x 100 trials and prints the response times)."""

import pytest

pytest.importorskip("fastapi", reason="needs the human extra: pip install -e '.[human]'")
pytest.importorskip("uvicorn", reason="needs the human extra: pip install -e '.[human]'")

from benchmarks import human_load  # noqa: E402
from vpt.deciders.human import server  # noqa: E402


@pytest.mark.skipif(not (server.STATIC / "vendor" / "jspsych.js").is_file(),
                    reason="jsPsych not installed: run `make human-assets`")
def test_concurrent_participants_lose_nothing_and_store_repeats_once():
    r = human_load.run(n_participants=8, n_trials=24, repeat_share=0.25, seed=3)
    assert r["answers"] == r["stored"] == 8 * 24 and r["finished"] == 8
    assert r["repeated_requests"] > 0 and r["requests"] >= r["answers"] + r["repeated_requests"]
    assert 0 < r["median_ms"] <= r["p99_ms"]
