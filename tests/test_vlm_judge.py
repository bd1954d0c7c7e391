"""The judge and the re-ask through the real SDK clients over a mocked transport: unread answers
read by a second model (cached, resumable, in the cost and the budget, rows marked), a judge
that answers nonsense gives none, the re-ask is a separate variant; the key reaches no output."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from PIL import Image as PILImage

import vpt.cli
from tests.vlm_mock import MockAPI, register_vlm_cli, with_fake_images
from vpt.deciders.vlm import harness as harness_mod
from vpt.deciders.vlm import judge as judge_mod
from vpt.deciders.vlm.cache import ResponseCache
from vpt.deciders.vlm.cost import Budget, BudgetReached, Price
from vpt.deciders.vlm.prompts import Question
from vpt.errors import UserError
from vpt.trials import store

MODEL = "gpt-4o-2024-08-06"
JUDGE = "gpt-4o-mini-2024-07-18"
FAKE_KEY = "sk-FAKE-vpt-judge-leak-0123456789abcdef"
UNREAD = {1: "Scene type alpha, as far as I can tell.", 0: "Scene type beta, as far as I can tell."}


@pytest.fixture(autouse=True)
def _register(monkeypatch):
    register_vlm_cli(monkeypatch, FAKE_KEY)


@pytest.fixture(scope="module")
def dataset(tiny_benchmark, tmp_path_factory) -> Path:
    """A copy of the session's tiny planned benchmark with one small PNG per scene (red channel
    255 where the viewer sees the ball)."""
    return with_fake_images(tiny_benchmark, tmp_path_factory.mktemp("judgedata") / "tiny")


def _pixel_label(body: dict) -> int:
    import base64
    import io

    for msg in reversed(body["messages"]):
        if msg["role"] != "user" or isinstance(msg["content"], str):
            continue
        urls = [c["image_url"]["url"] for c in msg["content"] if c["type"] == "image_url"]
        if urls:
            im = PILImage.open(io.BytesIO(base64.b64decode(urls[-1].split(",", 1)[1]))).convert("RGB")
            return int(im.getpixel((0, 0))[0] > 128)
    raise AssertionError("no image in the request")


def _last_text(body: dict) -> str:
    content = body["messages"][-1]["content"]
    return content if isinstance(content, str) else " ".join(c.get("text", "") for c in content)


def _server(body: dict, url: str) -> str:
    """The model answers in words the rules cannot read; asked again, it says yes/no (right).
    The judge reads "alpha" as yes and answers nonsense to "beta"."""
    if body["model"] == JUDGE:
        text = _last_text(body)
        return "yes" if "alpha" in text else "It is hard to say, maybe the first one?"
    if "final answer in one word" in _last_text(body):
        return "Yes." if _pixel_label(body) else "No."
    return UNREAD[_pixel_label(body)]


def _n_asked(dataset: Path) -> int:
    """Items of the splits the runs ask (test and ood), from the index."""
    return int(pd.read_parquet(dataset / "index.parquet", columns=["split"])["split"].isin(["test", "ood"]).sum())


def _args(dataset, out, *extra) -> list[str]:
    return ["vlm", "run", str(dataset), "--provider", "openai", "--model", MODEL, "--out", str(out), "--quiet",
            "--task", "vpt", "--shots", "2", "--concurrency", "2", "--split", "test", "ood", "--free-text", *extra]


def test_the_judge_reads_unread_answers_and_nonsense_gives_none(dataset, tmp_path, monkeypatch):
    api = MockAPI(_server).install(monkeypatch)
    out, cache = tmp_path / "r", tmp_path / "cache.sqlite"
    assert vpt.cli.main(_args(dataset, out, "--judge", f"openai:{JUDGE}", "--cache", str(cache))) == 0
    judge_calls = [r for r in api.requests if r["json"]["model"] == JUDGE]
    n = _n_asked(dataset)
    # n unread answers, two distinct texts: the judge is asked twice, the cache answers the rest
    assert len(judge_calls) == 2 and len(api.requests) == n + 2
    prompt = _last_text(judge_calls[0]["json"])
    assert "Can the green camera see the red ball?" in prompt and "Scene type" in prompt
    assert not any(c["type"] == "image_url" for c in judge_calls[0]["json"]["messages"][-1]["content"])
    trials = store.read_trials(*store.finished_runs(out))
    seen = trials["label"] == 1
    assert (trials.loc[seen, "parsed_by"] == "judge").all() and trials.loc[seen, "correct"].all()
    assert (trials.loc[~seen, "parsed_by"] == "none").all() and trials.loc[~seen, "response"].isna().all()
    run = store.finished_runs(out)[0]
    m = store.read_manifest(run)
    assert m["parsed_by"] == {"judge": int(seen.sum()), "none": int((~seen).sum())}
    judge_usd = 2 * Price(0.15, 0.60, "", "").usd(1000, 2)
    assert m["judge"] == f"openai:{JUDGE}" and m["cost"]["judge"]["usd"] == pytest.approx(judge_usd, abs=1e-6)
    assert m["cost"]["judge"]["sent"] == 2 and m["cost"]["judge"]["cached"] == n - 2
    assert m["cost"]["usd"] == pytest.approx(m["cost"]["judge"]["usd"] + n * Price(2.5, 10.0, "", "").usd(1000, 2), abs=1e-5)
    calls = pd.read_parquet(run / "calls.parquet")
    assert set(calls["parsed_by"]) == {"judge", "none"} and calls["judge_text"].notna().all()
    # interrupted or rerun elsewhere: the cache answers the model and the judge, nothing is sent again
    sent = api.calls
    assert vpt.cli.main(_args(dataset, tmp_path / "r2", "--judge", f"openai:{JUDGE}", "--cache", str(cache))) == 0
    assert api.calls == sent
    again = store.read_trials(*store.finished_runs(tmp_path / "r2"))
    key = ["scene_id", "variant"]  # rows come in the order calls finish (two at a time)
    assert again.sort_values(key)["parsed_by"].tolist() == trials.sort_values(key)["parsed_by"].tolist()
    for f in [*out.rglob("*"), *(tmp_path / "r2").rglob("*"), cache]:
        if f.is_file():
            assert FAKE_KEY.encode() not in f.read_bytes(), f


def test_without_a_judge_the_rows_say_none_and_the_run_id_is_unchanged(dataset, tmp_path, monkeypatch):
    MockAPI(_server).install(monkeypatch)
    cfg = harness_mod.VLMConfig("openai", MODEL)
    assert "judge" not in cfg.describe() and "reask" not in cfg.describe()  # earlier run ids stay valid
    assert vpt.cli.main(_args(dataset, tmp_path / "r")) == 0
    trials = store.read_trials(*store.finished_runs(tmp_path / "r"))
    assert (trials["parsed_by"] == "none").all() and trials["response"].isna().all()


def test_the_reask_is_a_separate_variant_in_the_same_conversation(dataset, tmp_path, monkeypatch):
    api = MockAPI(_server).install(monkeypatch)
    assert vpt.cli.main(_args(dataset, tmp_path / "r", "--reask")) == 0
    reasks = [r["json"] for r in api.requests if "final answer in one word" in _last_text(r["json"])]
    assert len(reasks) == _n_asked(dataset)
    msgs = reasks[0]["messages"]
    assert msgs[-2]["role"] == "assistant" and msgs[-2]["content"].startswith("Scene type")  # its own answer
    trials = store.read_trials(*store.finished_runs(tmp_path / "r"))
    first = trials[~trials["variant"].str.endswith(":reask")]
    second = trials[trials["variant"].str.endswith(":reask")]
    assert len(first) == len(second) == _n_asked(dataset)
    assert (first["parsed_by"] == "none").all()
    assert (second["parsed_by"] == "reask").all() and second["correct"].all()


def test_the_judges_verdict_is_read_strictly():
    q = Question("vpt", "yes_no", "Can the green camera see the red ball?", None, 1)
    assert judge_mod.read_verdict("yes", q) == "yes" and judge_mod.read_verdict(" **No.** ", q) == "no"
    for nonsense in ("none", "Yes and no", "maybe", "the answer is probably yes", "", None, "A"):
        assert judge_mod.read_verdict(nonsense, q) == "invalid"
    q2 = Question("depth", "two_option", "Which is closer to you?", ("The red ball.", "The green camera."), 1)
    assert judge_mod.read_verdict("(B)", q2) == "B" and judge_mod.read_verdict("yes", q2) == "invalid"


def test_the_judge_stops_at_the_budget_before_sending(tmp_path, monkeypatch):
    api = MockAPI(lambda body, url: "yes").install(monkeypatch)
    from vpt.deciders.vlm.providers.openai import OpenAIProvider

    judge = judge_mod.Judge(OpenAIProvider(JUDGE), Price(0.15, 0.60, "", ""), ResponseCache(tmp_path / "c.sqlite"))
    q = Question("vpt", "yes_no", "Can the green camera see the red ball?", None, 1)
    with pytest.raises(BudgetReached):
        judge.ask(q, "Scene type alpha.", Budget(0.0))
    assert api.calls == 0
    budget = Budget(1.0)
    verdict, call = judge.ask(q, "Scene type alpha.", budget)
    assert verdict == "yes" and not call.cached and budget.spent == pytest.approx(call.usd) and api.calls == 1
    verdict, call = judge.ask(q, "Scene type alpha.", budget)
    assert verdict == "yes" and call.cached and api.calls == 1


def test_an_openai_compatible_local_server_can_judge(tmp_path, monkeypatch):
    api = MockAPI(lambda body, url: "no").install(monkeypatch)
    judge = judge_mod.Judge.from_spec("openai-compatible:qwen2.5-vl-7b", "http://localhost:8000/v1",
                                      ResponseCache(tmp_path / "c.sqlite"))
    q = Question("vpt", "yes_no", "Can the green camera see the red ball?", None, 1)
    assert judge.ask(q, "Scene type beta.", Budget(None))[0] == "no"
    assert api.requests[0]["url"].startswith("http://localhost:8000/v1/chat/completions")
    with pytest.raises(UserError, match="PROVIDER:MODEL"):
        judge_mod.split_spec("gpt-4o-mini")


def test_the_report_table_shows_shares_and_accuracy_with_and_without_judged_rows():
    from vpt.report.parsing import parse_table

    t = pd.DataFrame({"decision_maker": "vlm:openai:m", "task": "vpt", "label": [1, 1, 0, 0, 1, 0, 1, 1],
                      "correct": pd.array([True, True, False, True, None, True, False, None], dtype="boolean"),
                      "parsed_by": ["rule", "rule", "rule", "judge", "none", "judge", "judge", "none"]})
    probe = pd.DataFrame({"decision_maker": "probe", "task": "vpt", "label": [1], "correct": [True], "parsed_by": [None]})
    got = parse_table(pd.concat([t, probe], ignore_index=True))
    assert got["decision_maker"].tolist() == ["vlm:openai:m"]  # no worded answers, no row
    row = got.iloc[0]
    assert (row["share_rule"], row["share_judge"], row["share_none"], row["share_reask"]) == (0.375, 0.375, 0.25, 0.0)
    assert row["accuracy"] == 0.5 and row["accuracy_without_judged"] == 0.4 and row["n_without_judged"] == 5
