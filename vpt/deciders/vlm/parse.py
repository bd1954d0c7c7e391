"""The answer parser: raw model text -> ``yes``, ``no``, ``A``, ``B`` or ``invalid``; never a guess.

A pure function (:func:`parse_answer`). The cascade, first hit wins:

1. empty -> invalid; a JSON object with an ``answer`` (or ``final_answer``, ``choice``) field
   -> that field, parsed by the short-answer rules alone;
2. the whole (cleaned) text is an answer: ``yes``, ``No.``, ``(B)``, ``**A**``, ``Option A``,
   an option's text;
3. an explicit answer line, "final answer" lines first, then others, each searched from the
   end: ``Final answer: B``, ``Answer: (A)``, ``the answer is no``, ``I choose option B``
   (a noun needs a separator, so "my answer assumes..." is no answer line);
4. refusals, "cannot determine", "it depends" -> invalid;
5. the sentences: a bare answer as the last sentence; a closing or opening "Yes, ..." /
   "No, ..." (they must agree); else the last concluding sentence ("so", "therefore"), the
   whole of a short answer, or, in a long one, the answer every answering sentence agrees on.
   A sentence answers by a leading yes/no word (hedges such as "probably" or "I think" are
   skipped), a restatement with negation handled ("it cannot see the ball", "the ball is not
   hidden", "no obstacle blocks the view"), the option texts, or a comparative naming one
   option ("the red ball is closer"). Conditionals ("If it faces the ball, yes") answer nothing;
   what the model itself sees ("visible to me") is ignored.

Two-option questions whose options are "Yes"/"No", differ only by a negation, or state opposite
polarities are read through the yes/no polarity ("Yes" means A when A is the positive one).
Anything unresolved, contradictory or ambiguous is ``invalid``.

Any binary question, not only ours: where the rules above find nothing, :mod:`.predicate` reads
a sentence against the question's own predicate (comparatives, relations, same/different,
negation in its clause, antonyms, numbers) and, for two options, the option that is the subject
of an assertive clause. The camera-sees-the-ball restatements apply to questions about seeing
only. Other languages' yes/no (de, fr, es, it, pt, nl, zh, ja) are read as yes/no. Letters that
contradict the option text they quote, echoed option lists and templates, and answers that
revise themselves ("Yes ... Wait, no ...") are ``invalid``. Scored on ``tests/corpora/`` by
``benchmarks/vlm_parse.py``.
"""

from __future__ import annotations

import re
from typing import Sequence

from vpt.deciders.vlm.answer_words import (ANSWER_LINE, COMPARATIVES, CONCLUDE, HEDGE, LEAD_NO, LEAD_YES, LEXICON,
                                            NEG_VERB, NO, NO_NOUN, NOT_NEG, POS_VERB, REFUSAL, YES, clean, fold,
                                            json_answer, norm)
from vpt.deciders.vlm.predicate import Predicate, _opposites, clause_option

PARSES = ("yes", "no", "A", "B", "invalid")
INVALID = "invalid"


class _Question:
    """What the parser knows about the question: kind, options, and how they map to polarity."""

    def __init__(self, kind: str, options: Sequence[str] | None, question: str | None) -> None:
        if kind not in ("yes_no", "two_option"):
            raise ValueError(f"question_kind must be yes_no or two_option, not {kind!r}")
        if kind == "two_option" and (not options or len(options) != 2):
            raise ValueError("a two_option question needs two option texts")
        self.kind = kind
        self.options = [str(o) for o in options] if kind == "two_option" and options else None
        self.question = question or ""
        self.polar: dict[str, str] | None = None  # polarity -> letter, for yes/no-like options
        if self.options:
            a, b = (norm(o) for o in self.options)
            if {a, b} == {"yes", "no"}:
                self.polar = {"yes": "A" if a == "yes" else "B", "no": "B" if a == "yes" else "A"}
            else:
                na, nb = _negated(a), _negated(b)
                if na != nb and _strip_neg(a) == _strip_neg(b):
                    self.polar = {"yes": "B" if na else "A", "no": "A" if na else "B"}
                else:  # "The camera can see the ball" / "The ball is hidden from the camera"
                    pa, pb = _polarity(self.options[0]), _polarity(self.options[1])
                    if {pa, pb} == {"yes", "no"}:
                        self.polar = {"yes": "A" if pa == "yes" else "B", "no": "B" if pa == "yes" else "A"}
                    else:  # "The door is open." / "The door is closed.": one word and its opposite
                        self._opposite_statements(a, b)
        low_q = (self.question + " " + " ".join(self.options or [])).lower()
        # the camera-sees-the-ball restatements apply to questions about seeing only
        self.vpt = not self.question or bool(re.search(r"\b(?:see|sees|seen|visible|view|views|sight)\b", low_q))
        if not hasattr(self, "pred"):
            polar_words = self.options and {norm(o) for o in self.options} == {"yes", "no"}
            self.pred = Predicate(self.question) if kind == "yes_no" or polar_words else None
        # "Is the red ball closer to you than the green camera?": yes = the first is closer
        c = re.search(r"\b(?:is|are)\s+(?:the\s+)?([\w ]+?)\s+(closer|nearer|farther|further)\b(?:[\w ]*?)\s+than\s+"
                      r"(?:the\s+)?([\w ]+?)\s*\?", self.question.lower())
        self.compare = (c.group(1), c.group(3), c.group(2)) if c and kind == "yes_no" else None
        m = re.search(r"\bwhich\b.*?\b(?:is|are|one is|looks)\s+(\w+)", self.question.lower())
        self.adjective = m.group(1) if m else ("closer" if self.options and "closer" in self.question.lower() else None)
        if self.options and self.adjective not in LEXICON:  # "Which car is parked closer to the tree?"
            after = self.question.lower().split("which", 1)[-1]
            later = [w for w in re.findall(r"[a-z]+", after) if w in LEXICON and re.fullmatch(r"\w+er", w)]
            more = re.search(r"\b(more|less|fewer)\s+(?!\w+ly\b)\w+", after)  # "more water", not "more tightly"
            self.adjective = later[0] if later else (more.group(1) if more else self.adjective)
        known = {w for words in COMPARATIVES.values() for w in words} | (LEXICON - {"true", "false"})
        if self.options and self.adjective not in known:  # "Which is true?" over "The ball is closer to you." ...
            shared = [w for w in sorted(known) if all(re.search(rf"\b{w}\b", o.lower()) for o in self.options)]
            self.adjective = shared[0] if len(shared) == 1 else self.adjective

    def _opposite_statements(self, a: str, b: str) -> None:
        wa, wb = a.split(), b.split()
        if len(wa) != len(wb):
            return
        diff = [(x, y) for x, y in zip(wa, wb) if x != y]
        if len(diff) == 1 and diff[0][1] in _opposites(diff[0][0])[1]:
            m = re.match(r"(.+?) (is|are|was|were) (.+)$", a)
            if m:  # read the answer as if asked "Is the door open?" (yes = option A)
                self.pred = Predicate(f"{m.group(2)} {m.group(1)} {m.group(3)}?")
                self.polar = {"yes": "A", "no": "B"}

    def from_polarity(self, p: str | None) -> str | None:
        if p is None:
            return None
        if self.kind == "yes_no":
            return p
        return self.polar[p] if self.polar else None


def _negated(s: str) -> bool:
    return bool(re.search(r"\b(?:not|cannot|no|never|n't|unable)\b|n't\b", s))


def _strip_neg(s: str) -> str:
    s = re.sub(r"\bcannot\b", "can", s)
    s = re.sub(r"\b(?:not|no|never)\b|n't\b", " ", s)
    return re.sub(r"\s+", " ", s).strip()


def _token_answer(s: str, q: _Question) -> str | None:
    """A short text that is exactly an answer: a letter, yes/no, or an option's text."""
    t = clean(s).strip().strip(".!,;:\"'()[]{} ").strip()
    low = t.lower()
    low = re.sub(r"^(?:option|choice|answer|letter)\s+", "", low)
    low = low.strip(".!,;:\"'()[]{} ")
    if q.kind == "two_option":
        if low in ("a", "b"):
            return low.upper()
        m = re.fullmatch(r"\(?([ab])[\).:\-]\s*(.*)", low, re.S)
        if m and m.group(2) and _other_letter(m.group(2), m.group(1)):
            return None  # an echoed option list: "A) yes B) no"
        if m and q.polar and m.group(2) and m.group(2).strip(" .") in YES | NO \
                and q.polar["yes" if m.group(2).strip(" .") in YES else "no"] != m.group(1).upper():
            return None  # "A) no" where A is "yes"
        if m and (not m.group(2) or _matches_option(m.group(2), q) in (None, m.group(1).upper())):
            return m.group(1).upper()
        opt = _matches_option(low, q, exact=True)
        if opt:
            return opt
        if q.polar and low in YES | NO:
            return q.polar["yes" if low in YES else "no"]
        return None
    if low in YES:
        return "yes"
    if low in NO:
        return "no"
    return None


def _matches_option(text: str, q: _Question, exact: bool = False) -> str | None:
    if not q.options:
        return None
    n = norm(text)
    opts = [norm(o) for o in q.options]
    if exact:
        hits = [i for i, o in enumerate(opts) if n == o]
    else:
        hits = [i for i, o in enumerate(opts) if re.search(r"(?:^| )" + re.escape(o) + r"(?: |$)", n)]
        if len(hits) == 2:  # one option text inside the other: take the longer one
            if opts[0] in opts[1] or opts[1] in opts[0]:
                hits = [0 if len(opts[0]) > len(opts[1]) else 1]
    return "AB"[hits[0]] if len(hits) == 1 else None


def _option_mention(text: str, q: _Question) -> str | None:
    """The option an answer opens with (after hedges): its text, its subject or its head noun,
    then the end or a reason ("The ball, since it is larger", "Probably the camera.")."""
    if not q.options:
        return None
    low = text.lower().strip()
    for _ in range(4):
        low2 = re.sub(r"^\W*(?:" + HEDGE + r"|it's|it is|that's|that is|that would be|this is)\b[\s,:;.\-–—]*", "", low)
        if low2 == low:
            break
        low = low2
    n = norm(low)
    hits = set()
    for i, o in enumerate(q.options):
        opt = norm(o)
        subject = re.split(r" (?:is|are|appears|seems|looks|lies|sits|stands|can|cannot)\b", opt)[0]
        names = {opt, subject} | ({subject.split()[-1]} if subject and len(opt.split()) <= 4 else set())
        for name in sorted(names, key=len, reverse=True):
            if name and re.match(rf"{re.escape(name)}s?(?:$| (?:because|since|as|due|given|which|that|being|one|"
                                 rf"object|here|obviously|clearly|definitely)\b)", n):
                hits.add(i)
                break
    return "AB"[hits.pop()] if len(hits) == 1 else None


def _polarity(sentence: str, restate: bool = True) -> str | None:
    """yes/no from one sentence: a leading yes/no word after hedges, else (``restate``) a
    restatement about a camera seeing a ball."""
    s = fold(sentence).lower().strip()
    if LEAD_NO.match(s):
        return "no"
    if LEAD_YES.match(s):
        return "yes"
    s = re.sub(r"^[\W_]+", "", s)
    for _ in range(4):
        s2 = re.sub(r"^" + HEDGE + r"\b[\s,:;.\-–—]*", "", s)
        if s2 == s:
            break
        s = s2
    if _conditional(s):
        return None  # a conditional ("If it faces the ball, yes") commits to nothing
    m = re.match(r"(\w+)\b", s)
    lead = m.group(1) if m else ""
    rest = s[m.end():] if m else s
    if lead in ("yes", "yeah", "yep", "yup", "correct", "affirmative", "absolutely", "definitely", "certainly",
                "indeed", "true"):
        if re.match(r"\s*(?:and|or|/|\|)\s*no\b", rest):
            return None
        if re.match(r"\s*not\b", rest):
            return "no"
        return "yes"
    if lead == "no" and NO_NOUN.match(rest):
        lead = ""  # "No obstacle blocks the view": a determiner, not the answer
    if lead in ("no", "nope", "nah", "negative", "false", "incorrect"):
        if re.match(r"\s*(?:and|or|/|\|)\s*yes\b", rest) or re.match(r"\s+(?:doubt|question)\b", rest):
            return "yes" if re.match(r"\s+doubt\b", rest) else None
        return "no"
    if lead == "not" and re.match(r"\s*(?:$|[.!,;]|at all|really|likely|quite|visible|seen)", rest):
        return "no"
    m = re.search(r"(?:^|[,;:\-–—]\s*|\b(?:so|therefore|thus|hence|then|the answer is|answer is|i'd say|i would say|"
                  r"meaning|which means)[,:]?\s+)(?:actually |rather |then |in fact )?(yes|no)\W*$", s)
    if m:
        return m.group(1)
    m = re.search(r"\b(?:it|they|the (?:green )?camera|the viewer|the lens)\s+(cannot|can't|can not|could not|couldn't|"
                  r"can|could|does not|doesn't|does)\W*$", s)
    if m:  # an elliptical answer to "Can the camera see ...?": "It can." / "It cannot."
        return "no" if re.search(r"not|n't", m.group(1)) else "yes"
    if not restate:
        return None
    s = re.sub(r"\b(?:i|we|you|one) (?:can |could )?(?:clearly )?(?:see|notice|observe)\b", " ", s)
    s = re.sub(r"\b(?:is |are |'s )?(?:partly |partially |clearly |fully )?(?:visible|hidden|seen|obscured|occluded) "
               r"(?:to|from|for|in|on) (?:me|us|you|the observer|the viewer of the image|my (?:view|viewpoint|perspective|side|position|vantage point|angle)|our (?:view|viewpoint|side|position|vantage point|angle|"
               r"perspective)|the picture|the image)\b", " ", s)
    pos = bool(POS_VERB.search(s)) or bool(NOT_NEG.search(s))
    neg_s = NOT_NEG.sub(" ", s)
    neg = bool(NEG_VERB.search(neg_s))
    if neg and not pos:
        return "no"
    if pos and not neg:
        return "yes"
    return None


def _comparative(sentence: str, q: _Question) -> str | None:
    """Which option a sentence names with the question's adjective ("the ball is closer", "the
    camera appears to be farther away" -> the other one); a negated comparative names none."""
    if not q.options or not q.adjective:
        return None
    group = next((g for g, words in COMPARATIVES.items() if q.adjective in words), None)
    if group is not None:
        other = "farther" if group == "closer" else "closer"
        same_words, other_words = COMPARATIVES[group], COMPARATIVES[other]
    else:  # any comparative of the lexicon: "Which line is longer?" ... "the top line is shorter"
        syn, opp = _opposites(q.adjective)
        if not syn:
            return None
        same_words, other_words = tuple(sorted(syn)), tuple(sorted(opp))
    s = norm(sentence)
    found = []
    subjects = [re.split(r" (?:is|are|appears|seems|looks|lies|sits|stands|can|cannot)\b", norm(o))[0]
                for o in q.options]
    cores = [o.split()[-1] if o else o for o in subjects]  # "red ball" -> "ball", unless both share it
    for i, opt in enumerate(subjects):
        core = cores[i] if cores[0] != cores[1] else opt
        name = rf"(?:{re.escape(opt)}|{re.escape(core)})"
        for same, words in ((True, same_words), (False, other_words)):
            for w in words:
                pats = (rf"\b{name} (?:is|appears|seems|looks|lies|sits|stands|is located|is positioned|is placed|"
                        rf"has|have|contains|holds)"
                        rf"(?P<mid>(?: \w+){{0,2}}) {w}\b",
                        rf"\b{w}(?: one| object| of two| of them)? (?:is|appears to be|seems to be) {name}\b",
                        rf"\b{name} is (?:the )?{w}(?: one| object)?\b",
                        rf"^(?:the )?{w}(?: one| object| of two| of them)? {name}\b")
                for pat in pats:
                    for m in re.finditer(pat, s):
                        if re.search(r"\b(?:not|nor|neither|no)\s*$", s[:m.start()]):
                            return None  # "the cat, not the dog, is bigger"; "neither the dog nor the cat is"
                        mid = m.groupdict().get("mid") or ""
                        if re.search(r"\b(?:not|never|no)\b|n't\b", mid):
                            return None  # "the ball is not closer": leave it
                        found.append(i if same else 1 - i)
    return "AB"[found[0]] if found and len(set(found)) == 1 else None


def _opposite_word(text: str, q: _Question) -> str | None:
    """Options that are one word and its opposite ("left"/"right", "on"/"off"): the one the answer
    uses, where it uses one only and does not negate it."""
    a, b = (norm(o) for o in q.options or ("", ""))
    preps = r"(?:on|in|under|at|inside|outside|behind|above|below|near|next to|to|toward|towards|into|off) "
    if re.match(preps, a) and re.match(preps, b) and a != b:  # "on the table" / "on the floor"
        used = [o for o in (a, b) if re.search(rf"\b{re.escape(o)}\b", norm(text))]
        if len(used) == 1 and not re.search(r"\b(?:not|no|never)\b|n't\b", text.lower()):
            return "A" if used == [a] else "B"
        return None
    if " " in a or " " in b or b not in _opposites(a)[1]:
        return None
    words = re.findall(r"[a-z]+", text.lower())
    used = {w for w in words if w in (a, b)}
    if len(used) != 1 or re.search(r"\b(?:not|no|never)\b|n't\b", text.lower()):
        return None
    return "A" if used == {a} else "B"


def _strip_echo(text: str, q: _Question) -> str:
    """Remove an echo of the prompt: the question, the option listing, the answer format."""
    t = text
    if q.question:
        t = t.replace(q.question, " ")
    if q.options:
        a, b = (re.escape(o.strip().rstrip(".")) for o in q.options)
        t = re.sub(rf"\(?A[\).:]\s*{a}\.?\s*\n?\s*\(?B[\).:]\s*{b}\.?", " ", t, flags=re.I)
    t = re.sub(r"(?:answer|respond|reply) with (?:yes or no|a or b|\"?yes\"? or \"?no\"?)(?: only)?\.?", " ", t,
               flags=re.I)
    t = re.sub(r"\[?\byes\s*\|\s*no\b\]?|\((?:yes/no|a/b)\)|\byes/no\b|\ba/b\b|\byes or no\b(?! *[,.]? *(?:it|the))", " ", t, flags=re.I)
    return t


def _sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?])\s+|\n+", text)
    return [p.strip() for p in parts if p and p.strip(" .!?-")]


def _resolve_short(s: str, q: _Question) -> str | None:
    """An answer from a short span (an answer line's rest, a JSON field, a conclusion)."""
    tok = _token_answer(s, q)
    if tok:
        return tok
    low = clean(s).lower()
    if q.kind == "two_option":
        m = re.match(r"^\W*(?:option |choice |letter )?\(?([ab])\b(?![''])(?:\)|\.|:|,|\s*[-–—]|\s*$|\s+(?:is|because|"
                     r"since|as|-|the)|\s*\()", low)
        if m:
            letter = m.group(1).upper()
            other = _matches_option(low[m.end():], q)
            return letter if other in (None, letter) and not _other_letter(low[m.end():], letter) else None
        m = re.fullmatch(r"\W*(?:" + HEDGE + r"\W+)*(?:it's|it is|i choose|i pick|i'd pick|i'd choose)?\s*"
                         r"\(?([ab])\)?\W*", low)
        if m:
            return m.group(1).upper()
        m = re.search(r"[,:;\-–—]\s*\(?([ab])\)?\W*$", low)
        if m:  # "Based on the choices, B."
            return m.group(1).upper()
        found = set(re.findall(r"\b(?:option|choice|statement|letter|image|picture|panel|figure)\s+\(?([ab])\b"
                               r"(?!['’-])", low))
        if len(found) == 1:
            return found.pop().upper()
        m = re.fullmatch(r"\W*(?:the )?(first|second|former|latter)(?: one| option| statement| choice)?(?: is (?:true|"
                         r"correct|right))?\W*", low)
        if m:
            return "A" if m.group(1) in ("first", "former") else "B"
        if q.polar:  # statements of opposite polarity: a restated option, else the answer's polarity
            return _matches_option(low, q) or q.from_polarity(_polarity(low, q.vpt)
                                                              or (q.pred.read(low) if q.pred else None))
        found = set(re.findall(r"\(([ab])\)", low))
        if len(found) == 1 and re.search(r"\([ab]\)\W*$", low):  # "Le chien (A)."
            return found.pop().upper()
        # other options (noun phrases: "The red ball."): a comparative, or an answer that opens with one
        # option ("The red ball, because ..."), or the subject of a clause that asserts the question's
        # predicate; a mere mention ("The ball is red") names none
        tail = re.search(r"\b(?:so|therefore|thus|hence)\b[,:]?\s+([^.;]*?)\W*$", low)
        if tail and (_option_mention(tail.group(1), q) or _token_answer(tail.group(1), q)):  # "..., so the hexagon."
            return _option_mention(tail.group(1), q) or _token_answer(tail.group(1), q)
        return (_comparative(low, q) or _option_mention(low, q) or _opposite_word(low, q)
                or clause_option(low, q.question, q.options))
    pol = _polarity(low, q.vpt)
    if pol is None and q.compare:
        x, y, adj = q.compare
        pseudo = _Question("two_option", [x, y], f"Which is {adj}?")
        got = _comparative(low, pseudo)
        pol = {"A": "yes", "B": "no"}.get(got or "")
    if pol is None and q.pred is not None:
        pol = q.pred.read(low)
    return pol


def parse_answer(response: str | None, question_kind: str, options: Sequence[str] | None = None,
                 question: str | None = None) -> str:
    """Parse one raw answer. Returns ``yes``/``no`` (yes_no), ``A``/``B`` (two_option) or ``invalid``."""
    q = _Question(question_kind, options, question)
    if response is None or not str(response).strip():
        return INVALID
    raw = str(response)
    text = clean(raw)
    if not text:
        return INVALID
    js = json_answer(fold(raw).replace("```json", " ").replace("```", " "))
    if js is not None:
        return _resolve_short(js, q) or INVALID
    tok = _token_answer(text, q)
    if tok:
        return tok
    body = _strip_echo(text, q)
    lines = list(ANSWER_LINE.finditer(body))
    final = [m for m in lines if m.group("noun") and "final" in m.group("noun").lower()]
    for m in [*reversed(final), *reversed([m for m in lines if m not in final])]:
        rest = (m.group("rest") if m.group("noun") else m.group("rest2")).strip()
        if not rest or re.search(r"\b(?:yes or no|a or b)\b|\byes\s*[|/]\s*no\b|\(?\b[a]\b\)?\s*(?:or|/|\|)\s*\(?b\b",
                                 rest.lower()):
            continue
        got = _resolve_short(rest, q)
        if got:
            return got
        if REFUSAL.search(rest.lower()):
            return INVALID
    if REFUSAL.search(body.lower()):
        return INVALID
    sents = _sentences(body)
    if not sents:
        return INVALID
    last = _token_answer(sents[-1], q)
    first = _lead(sents[0], q)
    if last:
        return INVALID if first and first != last else last  # "Yes. No." contradicts itself
    closing = _lead(sents[-1], q) if len(sents) > 1 else None
    if first and closing and first != closing:
        return INVALID
    if closing:  # a closing "No, the camera cannot see the ball." is the answer
        return closing
    concl = [s for s in sents if CONCLUDE.search(s.lower())]
    if concl:
        candidates = [concl[-1]]
    elif len(sents) <= 2:
        each = {g for g in (_resolve_short(c, q) for c in sents) if g}
        if len(each) > 1:
            return INVALID  # "Yes. Wait, actually no."
        candidates = [*sents, " ".join(sents)]
    else:  # no concluding sentence: every sentence that gives an answer must give the same one
        each = {g for g in (_resolve_short(c, q) for c in sents) if g}
        candidates = [] if len(each) != 1 else [sents[-1], *sents]
        revised = any(re.match(r"^\W*(?:wait|actually|on second thought|correction|hmm|no wait)\b", c.lower())
                      for c in sents[1:])
        if first and len(each) > 1 and revised:
            return INVALID  # "Yes, ... Wait, no, ...": the answer revised itself
    got = next((g for g in (_resolve_short(c, q) for c in candidates) if g), None)
    if first and got and first != got:
        return INVALID  # "Yes, ..." then a conclusion the other way: contradictory
    return first or got or INVALID


def _conditional(s: str) -> bool:
    return bool(re.search(r"(?:^|[.!?;,:]\s*)(?:if|unless|assuming|provided that|supposing|in case|depending on)\b", s)
                or re.search(r"\b(?:yes|no)\W+(?:if|unless|when|assuming|provided|depending)\b", s))


def _lead(sentence: str, q: _Question) -> str | None:
    """An answer given by the first word(s) alone: "Yes, ...", "No.", "(B) ...", "Option A ..."."""
    low = clean(sentence).lower()
    if _conditional(low):
        return None
    m = re.match(r"^\W*(yes|no|yeah|nope|yep)\b(?!\s*(?:or|/|\||and)\s*(?:yes|no))", low)
    if m and not (m.group(1) == "no" and NO_NOUN.match(low[m.end():])):
        p = "yes" if m.group(1) in ("yes", "yeah", "yep") else "no"
        return q.from_polarity(p)
    if q.kind == "two_option":
        m = re.match(r"^\W*(?:option |choice )?\(?([ab])(?:\)|\.|:|\s*[-–—])", low)
        if m:
            rest = low[m.end():]
            other = _matches_option(rest, q) or (q.polar and _token_answer(rest, q))
            if other not in (None, m.group(1).upper()) or _other_letter(rest, m.group(1)):
                return None  # "A) no" where A is "yes"; "(A) x or (B) y"
            return m.group(1).upper()
    return None


def _other_letter(rest: str, letter: str) -> bool:
    """Whether the rest of an answer that opened with one letter lists the other one too."""
    other = "b" if letter.lower() == "a" else "a"
    return bool(re.search(rf"(?:^|[\s,;/(])\(?{other}[\).:]", rest.lower()))
