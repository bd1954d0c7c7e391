"""What a sentence asserts about a binary question's own predicate, for any visual question.

:mod:`.parse` asks this module when a sentence has no yes/no word and names no option by a
rule of its own. The question is read once (:class:`Predicate`): its comparative ("is X
shorter than Y?"), its equality ("are the two colours the same?"), or its plain predicate
("is the man wearing a hat?": the subject ``man``, the predicate words ``wear``, ``hat``).
A sentence then answers by restating that predicate, with negation read inside its clause
("there is no dog", "he isn't wearing any hat"), by an antonym ("the door is closed", "the
top line is longer"), by equality against a comparative ("the two lines are the same length"
answers "no" to "is the top line shorter?"), or, for two options, by the option that is the
subject of an assertive clause about the question's predicate ("the red box fits the object
more tightly; the blue box, on the other hand, ..."). Anything mixed answers nothing.
"""

from __future__ import annotations

import re
from typing import Sequence

# opposite groups: a word in the first group asserts the opposite of a word in the second
_PAIRS = (
    ({"larger", "bigger", "greater", "more", "higher", "above"}, {"smaller", "less", "lesser", "fewer", "lower"}),
    ({"longer"}, {"shorter"}),
    ({"taller", "higher"}, {"shorter", "lower"}),
    ({"closer", "nearer", "nearest", "closest"}, {"farther", "further", "farthest", "furthest", "behind"}),
    ({"heavier"}, {"lighter"}), ({"wider", "broader"}, {"narrower"}), ({"thicker"}, {"thinner"}),
    ({"older"}, {"younger", "newer"}), ({"darker"}, {"lighter", "brighter", "paler"}), ({"faster"}, {"slower"}),
    ({"above", "over"}, {"below", "under", "beneath", "underneath"}), ({"left"}, {"right"}),
    ({"open", "opened"}, {"closed", "shut"}), ({"on"}, {"off"}), ({"full"}, {"empty"}), ({"inside", "within"}, {"outside"}),
    ({"front"}, {"behind", "back"}), ({"up", "upward", "upwards"}, {"down", "downward", "downwards"}),
    ({"wet"}, {"dry"}), ({"hot", "warm"}, {"cold", "cool"}), ({"clean"}, {"dirty"}),
    ({"awake", "alert"}, {"asleep", "sleeping"}),
    ({"sitting", "seated"}, {"standing"}), ({"straight"}, {"curved", "bent", "crooked"}), ({"true"}, {"false"}),
    ({"present"}, {"absent", "missing"}), ({"visible"}, {"hidden", "invisible", "occluded"}),
    ({"same", "identical", "equal", "alike"}, {"different", "unequal", "distinct"}),
    ({"parallel"}, {"perpendicular", "converging", "diverging", "converge", "diverge"}),
)
_COLOURS = {"red", "green", "blue", "yellow", "orange", "purple", "pink", "brown", "black", "white", "grey", "gray",
            "violet", "cyan", "magenta", "beige", "gold", "silver"}
_EQUAL = re.compile(r"\b(?:(?:the )?same|identical|equal|equally|equals|alike|no difference|as (?:\w+ ){1,2}as)\b")
_DIFFERENT = re.compile(r"\b(?:different|differ|differs|distinct|opposite|unequal|not (?:the )?same|not identical|not equal)\b")
_APPROX = re.compile(r"\b(?:about|roughly|approximately|nearly|almost|around|more or less|similar|similarly|"
                     r"comparable)\b")
_NEG = re.compile(r"\b(?:not|no|never|none|nothing|nobody|no one|noone|neither|nor|without|cannot|lacks?|lacking)\b|n't\b")
_NOT_NEG = re.compile(r"\bno (?:doubt|question)\b|\bnot only\b")
_UNASSERTED = re.compile(r"\b(?:need|needs|needed|want|wants|try|trying|have|has) to\b|\b(?:would|could|might|may|"
                         r"if|unless|whether|perhaps|maybe|possibly|either|depending|depends)\b")
_CLAUSE = re.compile(r"[,;:().!?]|\s[-–—]\s|\b(?:but|while|whereas|although|though|however|because|since|so|"
                     r"which|whilst|yet|on the other hand|in contrast|meanwhile|unlike)\b")
_AUX = r"(?:is|are|was|were|does|do|did|can|could|has|have|had|will|would|should|may|might|isn't|aren't|doesn't|don't)"
_STOP = set("""a an the this that these those there here it its it's they them their he she his her him i me my we you your
is are was were be been being am do does did can could has have had will would should may might must shall of in on at to
for from by with as and or any some one ones image picture photo photograph figure scene shown depicted displayed
appear appears seem seems look looks visible which what who whom whose how very really also just only both two
each either other than too such into onto about over under there's please answer question""".split())
_PREP = {"in", "on", "at", "behind", "under", "near", "next", "beside", "inside", "above", "below", "between",
         "around", "of", "to", "from", "with", "by", "over", "along", "across", "against"}


def _stem(w: str) -> str:
    for suf in ("ing", "ed", "es", "s"):
        if w.endswith(suf) and len(w) - len(suf) >= 3:
            w = w[: -len(suf)]
            break
    w = w[:-1] if len(w) > 3 and w[-1] == w[-2] else w
    return w[:-1] if len(w) > 3 and w.endswith("e") else w  # "face", "facing" -> "fac"


def _words(s: str) -> list[str]:
    return re.findall(r"[a-z0-9]+(?:'[a-z]+)?", s.lower())


def _opposites(word: str) -> tuple[set[str], set[str]]:
    """(synonyms, opposites) of a lexicon word; empty sets when it is not in the lexicon."""
    syn, opp = set(), set()
    for a, b in _PAIRS:
        if word in a:
            syn |= a
            opp |= b
        if word in b:
            syn |= b
            opp |= a
    if word in _COLOURS:
        syn, opp = {word}, _COLOURS - {word, "gold", "silver"}
    return syn, opp


_LEXICON = {w for a, b in _PAIRS for w in a | b}
_NUMBERS = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve".split())}


def _number_of(text: str) -> float | None:
    words = re.findall(r"[a-z]+|\d+(?:\.\d+)?", text.lower())
    for w in words:
        if w in _NUMBERS:
            return float(_NUMBERS[w])
        if re.fullmatch(r"\d+(?:\.\d+)?", w):
            return float(w)
    return None


def _clauses(s: str) -> list[str]:
    return [c.strip() for c in _CLAUSE.split(s) if c and c.strip()]


def _negated_before(clause: str, pos: int) -> bool:
    head = _NOT_NEG.sub(" ", clause[:pos])
    return bool(_NEG.search(head))


class Predicate:
    """A binary question read once: comparative, equality or plain predicate (see the module)."""

    def __init__(self, question: str | None, options: Sequence[str] | None = None) -> None:
        q = (question or "").lower().strip()
        q = re.sub(r"^(?:(?:based on|looking at|according to|from|in) (?:the |this )?(?:image|picture|photo|figure)"
                   r"[, ]+)", "", q)
        q = re.sub(r"\s*\?.*$", "", q, flags=re.S).strip()
        q = re.sub(r"\b(?:in|on|from) (?:the |this )?(?:image|picture|photo|figure|scene)\b", " ", q)
        self.text = q
        self.compare: tuple[set[str], set[str], set[str], str] | None = None  # (x words, y words, syn+opp...)
        self.equality: str | None = None
        self.subject: set[str] = set()
        self.core: list[str] = []
        self.attribute: str | None = None
        self.head: str | None = None
        self.negated = False
        m = re.match(_AUX + r"\s+(.*)$", q)
        body = m.group(1) if m else ""
        self.valid = bool(body) and not options
        if not self.valid:
            return
        c = re.match(r"(?:there )?(?P<x>.+?)\s+(?:(?:is|are)\s+)?(?P<adj>\w+er|more|less|fewer)\s+"
                     r"(?P<mid>(?:\w+\s+){0,4}?)than\s+(?P<y>.+)$", body)
        if c and _opposites(c.group("adj"))[0]:
            x, y = c.group("x"), c.group("y")
            mid = c.group("mid").split()
            if c.group("adj") in ("more", "less", "fewer") and x.strip() == "there" and mid:
                x = " ".join(mid)  # "are there more apples than oranges": the apples are compared
            xs = {w for w in _words(x) if w not in _STOP}
            ys = {w for w in _words(y) if w not in _STOP}
            xs, ys = (xs - ys) or xs, (ys - xs) or ys
            self.compare = (xs, ys, _opposites(c.group("adj"))[0], c.group("adj"))
            return
        r = re.match(r"(?P<x>.+?)\s+(?:(?:is|are|lies|located)\s+)?(?P<rel>above|below|under|over|beneath|underneath|"
                     r"inside|within|outside|behind|in front of|(?:to the )?left of|(?:to the )?right of)\s+(?:of\s+)?"
                     r"(?P<y>.+)$", body)
        plain_x = r and not any(w in _LEXICON or re.search(r"\w{3,}(?:ed|ing)$", w) for w in _words(r.group("x"))[1:])
        if r and plain_x and not body.startswith("there"):  # not "is the cat hidden behind the sofa"
            rel = {"in front of": "front"}.get(r.group("rel"), r.group("rel").split()[-2] if r.group("rel").endswith(
                " of") else r.group("rel"))
            xs = {w for w in _words(r.group("x")) if w not in _STOP}
            ys = {w for w in _words(r.group("y")) if w not in _STOP}
            xs, ys = (xs - ys) or xs, (ys - xs) or ys
            if _opposites(rel)[0] and xs and ys:
                self.compare = (xs, ys, _opposites(rel)[0], rel)
                return
        if re.search(r"\b(?:the same|identical|equal|alike|match)\b", body):
            self.equality = "same"
            return
        if re.search(r"\b(?:different|differ|distinct)\b", body):
            self.equality = "different"
            return
        words = _words(body)
        self.negated = bool(re.search(r"\bnot\b|n't\b", body))
        content = []
        after_prep = False
        for w in words:
            if w in _PREP:
                after_prep = True
            if w in _STOP or w in _PREP or w in ("not", "no"):
                continue
            content.append((w, after_prep))
        if not content:
            self.valid = False
            return
        modal = bool(m) and not re.match(r"(?:is|are|was|were|isn't|aren't)\b", q)
        if not body.startswith("there"):
            # the subject: the first run of adjacent content words, less its last word where that is
            # the verb ("can the girl see ...") or the predicate ("is the door open", "is the man wearing")
            run = [content[0]]
            idx = words.index(content[0][0])
            for w in words[idx + 1:]:
                if w in _STOP or w in _PREP or w in ("not", "no"):
                    break
                run.append((w, False))
            if len(run) > 1 and (modal or run[-1][0].endswith("ing") or _opposites(run[-1][0])[0]
                                 or run[-1][0] in _COLOURS):
                run = run[:-1]
            self.subject = {w for w, _ in run}
            content = [c for c in content[len(run):]] or content
        # an attribute: a lexicon word or colour not followed by a noun ("is the car red", not "the red ball")
        attrs = [w for k, (w, _) in enumerate(content) if (_opposites(w)[0])
                 and (k + 1 == len(content) or words.index(w) + 1 >= len(words)
                      or words[words.index(w) + 1] in _STOP | _PREP)]
        self.attribute = attrs[0] if attrs else None
        core = [w for w, loc in content if not loc] or [w for w, _ in content]
        self.core = [_stem(w) for w in core]
        self.head = self.core[0] if self.core and not body.startswith("there") else None

    # --- reading a sentence ---------------------------------------------------------------
    def read(self, sentence: str) -> str | None:
        """``yes``, ``no`` or None: what one sentence asserts about the question's predicate."""
        if not self.valid:
            return None
        s = sentence.lower().replace("can't", "cannot").replace("won't", "will not")
        s = re.sub(r"^\W*(?:yes|no)\b\s*[,.!:;\-]+", "", s)  # "No, ..." (not "No one is ...")
        if self.compare:
            return self._comparative(s)
        if self.equality:
            return self._equality(s)
        got = self._plain(s)
        if got and self.negated:
            return "no" if got == "yes" else "yes"
        return got

    def _equality(self, s: str) -> str | None:
        diff = bool(_DIFFERENT.search(s)) or any(_opposites(w)[0] and re.fullmatch(r"\w+er", w)
                                                 and w not in ("other", "either", "neither", "rather", "together",
                                                               "under", "over", "after", "whether", "never")
                                                 for w in _words(s))
        same = bool(_EQUAL.search(_DIFFERENT.sub(" ", s))) or bool(re.search(r"\bnot different\b|\bno difference\b", s))
        if re.search(r"\bnot different\b", s):
            diff = False
        if same == diff:
            return None
        return "yes" if same == (self.equality == "same") else "no"

    def _comparative(self, s: str) -> str | None:
        xs, ys, syn, adj = self.compare
        _, opp = _opposites(adj)
        votes = set()
        subject = "x"
        for clause in _clauses(s):
            words = _words(clause)
            if _EQUAL.search(clause) and not _DIFFERENT.search(clause) and not any(w in syn | opp for w in words):
                if _APPROX.search(clause):
                    continue  # "about the same distance": declines to compare
                votes.add("no")
                continue
            for i, w in enumerate(words):
                if w not in syn and w not in opp:
                    continue
                after = words[i + 1:]
                decided = False
                if w in ("more", "less", "fewer") and after and after[0] != "than":  # "more oranges than apples"
                    nxt = set(after[:after.index("than")] if "than" in after[:4] else after[:2])
                    if nxt & (xs | ys):
                        subject, decided = ("x" if nxt & xs else "y"), True
                if not decided and "than" in after[:5]:
                    j = after.index("than")
                    tail = set(after[j + 1:j + 5])
                    subject, decided = ("y" if tail & xs else "x"), True
                before = words[:i]
                if not decided and any(b in xs | ys for b in before):
                    fx = min((k for k, b in enumerate(before) if b in xs), default=99)
                    fy = min((k for k, b in enumerate(before) if b in ys), default=99)
                    subject = "x" if fx < fy else "y"
                neg = _negated_before(" ".join(words), len(" ".join(words[:i])))
                own = (w in syn) == (subject == "x")
                if neg:
                    if w in syn and subject == "x":
                        votes.add("no")
                    continue
                votes.add("yes" if own else "no")
                break
        if not votes:
            return self._number(s)
        return votes.pop() if len(votes) == 1 else None

    def _number(self, s: str) -> str | None:
        """"There are five birds" to "are there fewer than three birds?": one number, stated of the
        subject, against the question's number."""
        xs, ys, syn, adj = self.compare
        limit = _number_of(" ".join(ys))
        if limit is None or adj not in ("more", "less", "fewer", "greater", "larger", "smaller", "higher", "lower",
                                        "bigger"):
            return None
        nums = {n for n in (_number_of(w) for w in re.findall(r"[a-z]+|\d+(?:\.\d+)?", s)) if n is not None}
        nums.discard(limit) if len(nums) > 1 else None
        if len(nums) != 1 or not (set(_words(s)) & (xs | {"x", "it", "there", "number", "count", "value"})):
            return None
        n = nums.pop()
        bigger = "more" in syn or "larger" in syn
        if n == limit:
            return "no"
        return "yes" if (n > limit) == bigger else "no"

    def _plain(self, s: str) -> str | None:
        votes = set()
        for clause in _clauses(s):
            if _UNASSERTED.search(clause):
                continue  # "I would need to see ...", "it might be a dog", "if it is open"
            words = _words(clause)
            stems = [_stem(w) for w in words]
            if self.attribute:
                syn, opp = _opposites(self.attribute)
                for i, w in enumerate(words):
                    if w in syn or w in opp:
                        nxt = words[i + 1] if i + 1 < len(words) else ""
                        if nxt and nxt not in _STOP and nxt not in _PREP and nxt not in self.subject \
                                and not nxt.endswith("ly"):
                            continue  # "the red truck": a word about something else
                        neg = _negated_before(clause, clause.find(w))
                        votes.add("yes" if (w in syn) != neg else "no")
                        break
                continue
            hits = [stems.index(c) for c in self.core if c in stems]
            if not hits or len(hits) * 2 < len(self.core) or (self.head and self.head not in stems):
                continue
            asked = {n for n in (_number_of(w) for w in _words(self.text)) if n is not None}
            said = {n for n in (_number_of(w) for w in words) if n is not None}
            if asked and said and not said & asked:
                votes.add("no")  # "the hour hand points at 9" to "is it pointing at 3?"
                continue
            i = min(hits)
            neg = _negated_before(" ".join(words), len(" ".join(words[:i])) + 1)
            votes.add("no" if neg else "yes")
        return votes.pop() if len(votes) == 1 else None


def clause_option(text: str, question: str | None, options: Sequence[str]) -> str | None:
    """The option that is the subject of an assertive clause about the question's predicate
    ("the red box fits the object more tightly; the blue box, on the other hand, ...");
    a negated clause names the other option; disagreeing clauses name none."""
    q = (question or "").lower()
    m = re.search(r"\bwhich(?: one)?(?: of (?:the|these) \w+)?(?: \w+)?\s+(.*?)\s*(?:\?|$)", q)
    if not m:
        return None
    full = [" ".join(w for w in _words(o) if w not in ("the", "an")) for o in options]
    opt_words = [{w for w in _words(o) if w not in _STOP} for o in options]
    shared = opt_words[0] & opt_words[1]
    names = [ow - shared for ow in opt_words]
    if not all(names) and full[0] == full[1]:
        return None
    pred = [_stem(w) for w in _words(m.group(1)) if w not in _STOP and w not in opt_words[0] | opt_words[1]
            and w not in _PREP and w not in ("more", "less", "most", "least")]
    if not pred:
        return None
    comp = re.search(r"\b(more|less|fewer)\s+(?!\w+ly\b)\w+|\b(\w+er)\b", m.group(1))
    needed: set[str] = set()
    if comp and (comp.group(1) or _opposites(comp.group(2))[0]):
        syn, opp = _opposites(comp.group(1) or comp.group(2))
        needed = syn | opp
    votes = set()
    for clause in re.split(r"[;,.!?]|\b(?:but|while|whereas|however|although|though|on the other hand|in contrast|"
                           r"meanwhile)\b", text.lower()):
        words = _words(clause)
        if not words:
            continue
        lead = " ".join(words[:5])
        first = [i for i, o in enumerate(full) if re.search(rf"\b{re.escape(o)}\b", lead)] \
            or [i for i, ns in enumerate(names) if set(words[:4]) & ns]
        if len(first) != 1 or all(set(words) & ns for ns in names):
            continue  # one option as the subject, the other not in the clause ("neither x nor y" names none)
        stems = [_stem(w) for w in words]
        hits = [c for c in pred if c in stems]
        if len(hits) * 3 < len(pred) * 2 or (needed and not needed & set(words)):
            continue
        pos = min(stems.index(c) for c in hits)
        neg = _negated_before(" ".join(words), len(" ".join(words[:pos])))
        votes.add("AB"[first[0] if not neg else 1 - first[0]])
    return votes.pop() if len(votes) == 1 else None
