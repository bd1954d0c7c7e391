"""The price table (evaluation/prices/prices.yaml): every price dated and sourced from the
provider's own page, validated on load with a message naming the bad entry; defaults priced
and current; long-prompt rates per call; and `vpt vlm estimate` per model (defaults, every
listed model, one model, the judge) through the real SDK clients with nothing sent."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd
import pytest
import yaml

import vpt.cli
from tests.vlm_mock import MockAPI, register_vlm_cli, with_fake_images
from vpt.deciders.vlm import prices
from vpt.errors import UserError

# each provider's own documentation hosts: a price sourced anywhere else is a third-party price
PROVIDER_HOSTS = {"anthropic": {"platform.claude.com", "docs.anthropic.com", "www.anthropic.com"},
                  "openai": {"developers.openai.com", "platform.openai.com", "openai.com"},
                  "google": {"ai.google.dev", "cloud.google.com", "docs.cloud.google.com"}}
ENTRY = "{input: 1, output: 2, as_of: 2026-01-02, dated_by: retrieved, source: https://platform.claude.com/x, status: current}"


def _table(tmp_path: Path, models: str, extra: str = "") -> Path:
    p = tmp_path / "prices.yaml"
    p.write_text(f"currency: USD\nunit: per_million_tokens\nmodels:\n{models}\n{extra}")
    return p


# --- the shipped table ------------------------------------------------------------------------
def test_every_shipped_price_has_its_source_and_date():
    raw = yaml.safe_load(prices.PRICES_FILE.read_text())
    n = 0
    for provider, models in raw["models"].items():
        for model, e in (models or {}).items():
            n += 1
            assert e.get("source"), f"{provider} {model}: no source"
            assert e.get("as_of"), f"{provider} {model}: no date"
            assert e.get("dated_by") in ("page", "retrieved"), f"{provider} {model}: how was it dated?"
            host = urlparse(e["source"]).hostname
            assert host in PROVIDER_HOSTS[provider], f"{provider} {model}: {host} is not the provider's page"
            assert dt.date.fromisoformat(str(e["as_of"])) <= dt.date.today()
    assert n >= 5
    table = prices.load_table(prices.PRICES_FILE)  # and it passes the loader's own checks
    assert table.prices["anthropic"] and table.prices["openai"]


def test_shipped_defaults_are_current_priced_vision_models():
    table = prices.load_table(prices.PRICES_FILE)
    assert set(table.defaults) == {"openai", "anthropic", "google"}
    for provider, names in table.defaults.items():
        for n in names:
            assert table.prices[provider][n].status == "current"
    # a provider without a stored pricing page has no default and says why for its current model
    assert table.defaults["google"] == [] and "gemini-3.8-flash" in table.unpriced["google"]
    for provider, models in table.unpriced.items():
        for m, why in models.items():
            assert len(why) > 20 and m not in table.prices.get(provider, {})


def test_the_tests_run_with_the_fixture_table_not_the_shipped_one():
    assert prices.table_path() != prices.PRICES_FILE
    assert prices.price_for("openai", "gpt-4o-2024-08-06").source.startswith("https://example.invalid/")
    with pytest.raises(UserError, match="listed as unpriced: the 2025-06-01 table"):
        prices.price_for("openai", "gpt-4o-2024-08-06", prices.PRICES_FILE)


# --- validation -------------------------------------------------------------------------------
@pytest.mark.parametrize("entry,message", [
    ("{input: 1, output: 2, as_of: 2026-01-02, dated_by: retrieved, status: current}", r"models\.openai\.m\.source"),
    ("{input: 1, output: 2, dated_by: retrieved, source: https://platform.claude.com/x, status: current}",
     r"models\.openai\.m\.as_of"),
    ("{input: 1, output: 2, as_of: 2026-01-02, source: https://platform.claude.com/x, status: current}",
     r"models\.openai\.m\.dated_by"),
    ("{input: 1, output: 2, as_of: 2026-01-02, dated_by: retrieved, source: http://x.y/z, status: current}",
     r"models\.openai\.m\.source"),
    ("{input: -1, output: 2, as_of: 2026-01-02, dated_by: retrieved, source: https://platform.claude.com/x, "
     "status: current}", r"models\.openai\.m\.input"),
    ("{input: 1, output: 2, as_of: 2026-01-02, dated_by: retrieved, source: https://platform.claude.com/x, "
     "status: old}", r"models\.openai\.m\.status"),
    ("{input: 1, output: 2, as_of: 2099-01-02, dated_by: page, source: https://platform.claude.com/x, "
     "status: current}", "in the future"),
    ("{input: 1, output: 2, as_of: 2026-01-02, dated_by: retrieved, source: https://platform.claude.com/x, "
     "status: current, long_prompt: {above: 10}}", r"models\.openai\.m\.long_prompt"),
    ("{input: 1, output: 2, as_of: 2026-01-02, dated_by: retrieved, source: https://platform.claude.com/x, "
     "status: current, pirce: 3}", "unknown field"),
    ("3", "an entry needs"),
])
def test_a_bad_entry_is_named(tmp_path, entry, message):
    with pytest.raises(UserError, match=message):
        prices.load_table(_table(tmp_path, f"  openai:\n    m: {entry}"))


def test_defaults_must_be_priced_and_current_and_unpriced_needs_a_reason(tmp_path):
    legacy = ENTRY.replace("current", "legacy")
    with pytest.raises(UserError, match="'n' has no price"):
        prices.load_table(_table(tmp_path, f"  openai:\n    m: {ENTRY}", "defaults:\n  openai: [n]\n"))
    with pytest.raises(UserError, match="is legacy"):
        prices.load_table(_table(tmp_path, f"  openai:\n    m: {legacy}", "defaults:\n  openai: [m]\n"))
    with pytest.raises(UserError, match=r"unpriced\.openai\.x: the reason"):
        prices.load_table(_table(tmp_path, f"  openai:\n    m: {ENTRY}", "unpriced:\n  openai:\n    x: ''\n"))
    with pytest.raises(UserError, match="also priced"):
        prices.load_table(_table(tmp_path, f"  openai:\n    m: {ENTRY}", "unpriced:\n  openai:\n    m: why not\n"))


def test_vpt_prices_replaces_the_table_and_unpriced_models_say_why(tmp_path, monkeypatch):
    path = _table(tmp_path, f"  openai:\n    mine: {ENTRY}", "unpriced:\n  openai:\n    other: no page stored\n")
    monkeypatch.setenv("VPT_PRICES", str(path))
    assert prices.price_for("openai", "mine").usd(10**6, 10**6) == pytest.approx(3.0)
    with pytest.raises(UserError, match=r"listed as unpriced: no page stored.*priced: mine.*add a dated entry"):
        prices.price_for("openai", "other")
    with pytest.raises(UserError, match=r"no price for openai model 'new'.*VPT_PRICES"):
        prices.price_for("openai", "new")
    assert prices.price_for("openai-compatible", "qwen").usd(10**6, 10**6) == 0.0


def test_long_prompt_rates_apply_per_call():
    p = prices.Price(0.10, 0.50, "2026-12-07", "https://x", long_above=100_000, long_input=0.50, long_output=2.50)
    assert p.usd(100_000, 10) == pytest.approx((100_000 * 0.10 + 10 * 0.50) / 1e6)
    assert p.usd(100_001, 10) == pytest.approx((100_001 * 0.50 + 10 * 2.50) / 1e6)
    haiku = prices.load_table(prices.PRICES_FILE).prices["anthropic"]["claude-haiku-5-5"]
    assert haiku.rates(50_000) == (0.10, 0.50) and haiku.rates(150_000) == (0.50, 2.50)


# --- vpt vlm estimate -------------------------------------------------------------------------
FAKE_KEY = "sk-FAKE-vpt-prices-0123456789"


@pytest.fixture(autouse=True)
def _register(monkeypatch):
    register_vlm_cli(monkeypatch, FAKE_KEY)


@pytest.fixture(scope="module")
def dataset(tiny_benchmark, tmp_path_factory) -> Path:
    return with_fake_images(tiny_benchmark, tmp_path_factory.mktemp("vlmprices") / "tiny")


def _n(dataset: Path, *splits: str) -> int:
    return int(pd.read_parquet(dataset / "index.parquet", columns=["split"])["split"].isin(splits).sum())


def _rows(text: str) -> dict[tuple[str, str], list[str]]:
    out = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 9 and cells[0] in ("openai", "anthropic", "google", "openai-compatible"):
            out[(cells[0], cells[1])] = cells
    return out


def _dollars(cell: str) -> float:
    return float(cell.replace("$", "").replace(",", ""))


def _estimate(dataset, out, *extra) -> list[str]:
    return ["vlm", "estimate", str(dataset), "--out", str(out), "--split", "test", "--shots", "2", *extra]


def test_estimate_prints_every_default_model_with_nothing_sent(dataset, tmp_path, monkeypatch, capsys):
    api = MockAPI().install(monkeypatch)
    for env in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(env, raising=False)  # no key needed
    assert vpt.cli.main(_estimate(dataset, tmp_path)) == 0
    text = capsys.readouterr().out
    rows = _rows(text)
    assert set(rows) == {("openai", "gpt-4o-2024-08-06"), ("anthropic", "claude-sonnet-4-20250514"),
                         ("google", "gemini-2.5-flash")}
    n = 2 * _n(dataset, "test")  # both tasks, one control
    for cells in rows.values():
        assert cells[3] == f"{n:,}" and cells[4] == "0" and _dollars(cells[7]) > 0
        assert _dollars(cells[8]) > _dollars(cells[7])
    assert "Nothing was sent" in text and "https://example.invalid/vpt-test-fixture" in text
    assert api.calls == 0
    # the table's dollars are the one-model estimate's dollars (the same requests, priced per call)
    assert vpt.cli.main(_estimate(dataset, tmp_path, "--provider", "anthropic", "--model",
                                  "claude-sonnet-4-20250514")) == 0
    one = capsys.readouterr().out
    cost = float(re.search(r"estimated cost \$([0-9.]+)", one).group(1))
    assert cost == pytest.approx(_dollars(rows[("anthropic", "claude-sonnet-4-20250514")][7]), abs=1e-4)
    # input tokens follow each provider's image rule: the three providers differ on the same images
    assert len({rows[k][5] for k in rows}) == 3


def test_unpriced_models_print_no_price_on_file_never_zero(dataset, tmp_path, monkeypatch, capsys):
    MockAPI().install(monkeypatch)
    assert vpt.cli.main(_estimate(dataset, tmp_path, "--provider", "openai", "--models", "all")) == 0
    text = capsys.readouterr().out
    rows = _rows(text)
    assert set(m for _, m in rows) == {"gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18", "gpt-6-luna",
                                       "gpt-unpriced-test"}
    unpriced = rows[("openai", "gpt-unpriced-test")]
    assert unpriced[2] == "unpriced" and unpriced[7] == "no price on file" and "$" not in unpriced[7] + unpriced[8]
    assert "No price on file:\n  openai gpt-unpriced-test: a test model without a price\nTo price one: add a dated entry" in text
    assert vpt.cli.main(_estimate(dataset, tmp_path, "--provider", "openai", "--model", "gpt-nobody-knows")) == 0
    text = capsys.readouterr().out
    assert "  openai gpt-nobody-knows: not in the price table" in text and "$0" not in text


def test_the_shipped_defaults_and_a_provider_without_one(dataset, tmp_path, monkeypatch, capsys):
    MockAPI().install(monkeypatch)
    monkeypatch.delenv("VPT_PRICES")
    assert vpt.cli.main(_estimate(dataset, tmp_path)) == 0
    text = capsys.readouterr().out
    rows = _rows(text)
    table = prices.load_table(prices.PRICES_FILE)
    expected = {(p, m) for p, ms in table.defaults.items() for m in ms}
    assert expected <= set(rows) and ("google", "-") in rows and rows[("google", "-")][7] == "no price on file"
    assert "  google (no default): no priced, current model in the table" in text
    for (p, m) in expected:
        assert table.prices[p][m].source in text


def test_estimate_with_a_judge(dataset, tmp_path, monkeypatch, capsys):
    MockAPI().install(monkeypatch)
    args = _estimate(dataset, tmp_path, "--provider", "openai", "--model", "gpt-4o-2024-08-06")
    assert vpt.cli.main(args + ["--judge", "openai:gpt-4o-mini-2024-07-18"]) == 0
    text = capsys.readouterr().out
    m = re.search(r"Judge openai:gpt-4o-mini-2024-07-18: .*?about ([0-9,]+) input \+ 8 output tokens a call: "
                  r"\$([0-9.]+) per 100 judged answers, at most \$([0-9.]+) if all ([0-9,]+) trials", text)
    assert m, text
    tin, per100, most, calls = int(m[1].replace(",", "")), float(m[2]), float(m[3]), int(m[4].replace(",", ""))
    assert calls == 2 * _n(dataset, "test")
    assert per100 == pytest.approx(100 * (tin * 0.15 + 8 * 0.60) / 1e6, abs=1e-4)
    assert most == pytest.approx(calls * (tin * 0.15 + 8 * 0.60) / 1e6, abs=1e-4)
    assert vpt.cli.main(args + ["--judge", "openai:gpt-unpriced-test"]) == 0
    assert "  judge openai:gpt-unpriced-test: a test model without a price" in capsys.readouterr().out


def test_cached_requests_cost_nothing_in_the_estimate(dataset, tmp_path, monkeypatch, capsys):
    api = MockAPI(lambda body, url: '{"answer": "yes"}').install(monkeypatch)
    out = tmp_path / "r"
    base = [str(dataset), "--provider", "openai", "--model", "gpt-4o-2024-08-06", "--out", str(out), "--split", "test",
            "--shots", "2", "--quiet", "--task", "vpt"]
    assert vpt.cli.main(["vlm", "run", *base]) == 0
    sent = api.calls
    assert vpt.cli.main(["vlm", "estimate", str(dataset), "--out", str(out), "--split", "test", "--shots", "2",
                         "--task", "vpt", "--provider", "openai", "--models", "all"]) == 0
    rows = _rows(capsys.readouterr().out)
    cells = rows[("openai", "gpt-4o-2024-08-06")]
    assert cells[4] == f"{sent:,}" and cells[5] == "0" and _dollars(cells[7]) == 0.0  # all cached: nothing to pay
    assert _dollars(rows[("openai", "gpt-6-luna")][7]) > 0 and api.calls == sent


def test_the_docs_list_every_default_with_its_price_and_source():
    from tests.conftest import ROOT

    doc = (ROOT / "docs" / "vlm.md").read_text()
    table = prices.load_table(prices.PRICES_FILE)
    for provider, names in table.defaults.items():
        for m in names:
            p = table.prices[provider][m]
            row = next((line for line in doc.splitlines() if line.startswith(f"| {provider} | `{m}` |")), None)
            assert row is not None, f"docs/vlm.md has no row for {provider} {m}"
            a, b = re.match(r"\s*([0-9.]+) / ([0-9.]+)", row.split("|")[3]).groups()
            assert p.source in row and (float(a), float(b)) == (p.input_per_mtok, p.output_per_mtok), row
