"""The answer parser against the hand-labelled corpus, its guarantees, and `vpt vlm parse`."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

import vpt.cli
from vpt.deciders.vlm.parse import PARSES, parse_answer

CORPUS = Path(__file__).parent / "corpora" / "vlm_answers.jsonl"


@pytest.fixture(autouse=True)
def _register(monkeypatch):
    if "vpt.deciders.vlm.cli" not in vpt.cli.EVALUATOR_COMMANDS:
        monkeypatch.setattr(vpt.cli, "EVALUATOR_COMMANDS", (*vpt.cli.EVALUATOR_COMMANDS, "vpt.deciders.vlm.cli"))


def _corpus() -> list[dict]:
    return [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]


def test_corpus_is_large_varied_and_labelled():
    rows = _corpus()
    assert len(rows) >= 300
    truths = Counter(r["truth"] for r in rows)
    assert set(truths) == set(PARSES) and min(truths.values()) >= 30
    assert sum(len(r["response"]) > 200 for r in rows) >= 10  # chain-of-thought answers
    assert sum(r["response"].lstrip().startswith(("{", "```")) for r in rows) >= 10  # JSON answers


def test_parser_agrees_with_the_hand_labels():
    rows = _corpus()
    wrong = [(r["truth"], got, r["response"]) for r in rows
             if (got := parse_answer(r["response"], r["question_kind"], r["options"], r["question"])) != r["truth"]]
    agreement = 1 - len(wrong) / len(rows)
    committed_wrongly = [w for w in wrong if w[1] != "invalid"]  # a guess where the truth is invalid or the other
    print(f"parser agreement {agreement:.2%} on {len(rows)} answers; {len(committed_wrongly)} wrong commitments")
    assert agreement >= 0.99, wrong[:10]
    assert not committed_wrongly, committed_wrongly


@pytest.mark.parametrize("text", ["Yes or no.", "Maybe yes, maybe no.", "It could be either A or B.",
                                  "I cannot determine this.", "Sorry, I can't help with that.", None, ""])
def test_undecided_answers_are_invalid_never_a_guess(text):
    assert parse_answer(text, "yes_no") == "invalid"
    assert parse_answer(text, "two_option", ["The red ball.", "The green camera."]) == "invalid"


def test_yes_means_option_a_when_the_options_are_yes_and_no():
    assert parse_answer("Yes", "two_option", ["Yes", "No"]) == "A"
    assert parse_answer("Yes", "two_option", ["No", "Yes"]) == "B"
    assert parse_answer("Yes", "two_option", ["The red ball.", "The green camera."]) == "invalid"


def test_the_parser_is_pure_and_total():
    for r in _corpus()[:50]:
        a = parse_answer(r["response"], r["question_kind"], r["options"], r["question"])
        assert a == parse_answer(r["response"], r["question_kind"], r["options"], r["question"]) and a in PARSES
    with pytest.raises(ValueError):
        parse_answer("A", "multiple")


def test_parse_command_adds_a_parse_to_every_line(tmp_path, capsys):
    rows = _corpus()
    src = tmp_path / "answers.jsonl"
    src.write_text("\n".join(json.dumps({k: v for k, v in r.items() if k != "truth"}) for r in rows) + "\n")
    out = tmp_path / "parsed.jsonl"
    assert vpt.cli.main(["vlm", "parse", "--in", str(src), "--out", str(out)]) == 0
    parsed = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(parsed) == len(rows)
    assert all(p["response"] == r["response"] and p["parse"] == parse_answer(r["response"], r["question_kind"],
               r["options"], r["question"]) for p, r in zip(parsed, rows))
    assert f"{len(rows)} answers parsed" in capsys.readouterr().out


def test_parse_command_names_the_bad_line(tmp_path, capsys):
    src = tmp_path / "answers.jsonl"
    src.write_text('{"response": "yes", "question_kind": "yes_no", "options": null}\n'
                   '{"response": "A", "question_kind": "two_option", "options": ["x"]}\n')
    assert vpt.cli.main(["vlm", "parse", "--in", str(src), "--out", str(tmp_path / "o.jsonl")]) != 0
    err = capsys.readouterr().err
    assert "line 2" in err and "two texts" in err and len(err.strip().splitlines()) == 1
    src.write_text("not json\n")
    assert vpt.cli.main(["vlm", "parse", "--in", str(src), "--out", str(tmp_path / "o.jsonl")]) != 0
    assert "line 1: not JSON" in capsys.readouterr().err


from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=400), opts=st.lists(st.text(min_size=1, max_size=40), min_size=2, max_size=2))
def test_any_text_parses_to_one_of_the_five_answers(text, opts):
    assert parse_answer(text, "yes_no") in ("yes", "no", "invalid")
    assert parse_answer(text, "two_option", opts, "Which is closer to you?") in ("A", "B", "invalid")


GENERAL = Path(__file__).parent / "corpora" / "vlm_answers_general.jsonl"


def test_general_corpus_spans_the_styles_and_languages():
    from vpt.deciders.vlm import corpus

    rows = corpus.load(GENERAL)
    assert len(rows) >= 300 and {r["set"] for r in rows} == {"general-1", "general-2", "general-3", "general-4", "general-5"}
    styles = Counter(r["style"] for r in rows)
    assert {"comparative", "equality", "language", "truncated", "stepwise", "two_option", "none"} <= set(styles)
    assert sum(r["truth"] == "invalid" for r in rows) >= 50
    assert not any("camera" in r["question"] and "ball" in r["question"] for r in rows)  # not our questions


def test_parser_reads_general_questions_as_the_issue_asks():
    """Issue 27's criteria, on our own general corpus: >= 95 % read, none flipped, <= 2 % committed."""
    from vpt.deciders.vlm import corpus

    total, misses = corpus.score(corpus.load(GENERAL))
    print(total.line())
    assert total.flipped == 0, [m for m in misses if m[1] != "invalid" and m[0] != "invalid"]
    assert total.read_share >= 0.95, misses[:10]
    assert total.committed_share <= 0.02, [m for m in misses if m[0] == "invalid"]


@pytest.mark.parametrize("question,answer,truth", [
    ("Is the top line shorter than the bottom one?", "The two lines are the same length.", "no"),
    ("Is the top line shorter than the bottom one?", "The bottom line is longer.", "yes"),
    ("Is x smaller than 5?", "x is 5, not smaller than 5.", "no"),
    ("Are the two colours the same?", "They appear to be the same.", "yes"),
    ("Are the two colours the same?", "They appear to be different.", "no"),
    ("Is the door open?", "The door is shut.", "no"),
    ("Is the cat hidden behind the sofa?", "The cat is hidden behind the sofa.", "yes"),
    ("Is the cat hidden behind the sofa?", "The cat is not hidden; it sits on the sofa.", "no"),
    ("Is there a dog?", "No one would call this a dog: there is no dog.", "no"),
    ("Is there a dog?", "Yes, there is a dog. Actually, there is no dog.", "invalid"),
    ("Is there a dog?", "Nein.", "no"),
    ("Is there a dog?", "是的。", "yes"),
    ("Is there a dog?", "いいえ、いません。", "no"),
    ("Is the red ball closer to you than the green camera?", "They look about the same distance.", "invalid"),
    ("Is the red line above the blue line?", "The blue line is above the red line.", "no"),
    ("Are there fewer than three birds on the wire?", "There are five birds on the wire.", "no"),
    ("Is the man holding a phone?", "Yes, he is holding a phone. Wait, no, that is a wallet, not a phone.", "invalid"),
    ("Is the car red?", "The car next to the red truck is blue.", "no"),  # "red" is the truck's
    ("Is the car red?", "It is a red car.", "yes"),
    ("Is the man wearing a hat?", "To decide whether the man is wearing a hat, I look at his head.", "invalid"),
    ("Is the apple on the table?", "The apple is on the floor, not on the table.", "no"),
    ("Does the image show a beach?", "The image shows a mountain lake surrounded by pine trees.", "invalid"),
])
def test_the_question_predicate_is_read(question, answer, truth):
    assert parse_answer(answer, "yes_no", None, question) == truth


@pytest.mark.parametrize("answer,truth", [
    ("The red box fits the object more tightly; the blue box, on the other hand, leaves space.", "A"),
    ("The blue box leaves empty space around the object, but the red box fits it tightly.", "A"),
    ("The blue box is much larger than the object, whereas the red box fits the object tightly.", "A"),
    ("The right choice would be (B), the blue box.", "B"),
    ("A) the blue box", "invalid"),  # the letter contradicts the text it quotes
    ("A) the red box\nB) the blue box", "invalid"),  # an echoed option list
    ("Answer: (A) or (B)", "invalid"),
])
def test_the_option_that_a_clause_asserts_is_the_choice(answer, truth):
    assert parse_answer(answer, "two_option", ["the red box", "the blue box"],
                        "Which box fits the object more tightly?") == truth


@pytest.mark.parametrize("answer,truth", [("The cat, not the dog, is bigger.", "invalid"),
                                         ("Neither the dog nor the cat is bigger.", "invalid"),
                                         ("Both are big, but the dog is bigger.", "A"),
                                         ("The dog is brown and the cat is white.", "invalid")])
def test_a_negated_or_shared_subject_names_no_option(answer, truth):
    assert parse_answer(answer, "two_option", ["the dog", "the cat"], "Which animal is bigger?") == truth


def test_a_letter_that_contradicts_yes_no_options_is_invalid():
    assert parse_answer("A) no", "two_option", ["Yes", "No"], "Are they the same?") == "invalid"
    assert parse_answer("A) yes", "two_option", ["Yes", "No"], "Are they the same?") == "A"
