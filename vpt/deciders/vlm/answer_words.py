"""The words and patterns the answer parser reads (:mod:`.parse`): yes/no words in the
languages it knows, hedges, refusals, answer lines, concluding markers, the camera-sees-the-ball
restatements and their negations, and the text normalisation applied before any rule."""

from __future__ import annotations

import json
import re
import unicodedata

from vpt.deciders.vlm.predicate import _PAIRS

YES = {"yes", "yeah", "yep", "yup", "y", "true", "correct", "affirmative", "sure", "indeed", "absolutely",
        "definitely", "certainly", "si", "oui", "ja", "sim", "是", "是的", "对", "对的", "有", "有的", "はい", "ええ"}
NO = {"no", "nope", "nah", "n", "false", "negative", "incorrect", "not", "nein", "non", "nao", "nee", "否", "不",
       "不是", "没有", "沒有", "不对", "いいえ", "いえ"}
# other languages' yes/no opening an answer ("Ja, ...", "Non, ...", "是的，...", "いいえ、..."): a word then a mark
LEAD_YES = re.compile(r"^\W*(?:(?:ja|oui|si|sim)(?=\s*[.,!;:]|\s*$)|(?:是的|是|对的|对|有的|有|はい|ええ)(?=\W|$))")
LEAD_NO = re.compile(r"^\W*(?:(?:nein|non|nao|nee)(?=\s*[.,!;:]|\s*$)|(?:不是|不对|不|否|没有|沒有|いいえ|いえ)(?=\W|$))")
HEDGE = (r"(?:i think|i believe|i would say|i'd say|i guess|i suspect|probably|likely|most likely|very likely|"
          r"presumably|apparently|it seems|it appears|it looks like|seemingly|i'm fairly sure|i am fairly sure|"
          r"i'm pretty sure|i am pretty sure|i'm confident|i am confident|my guess is|my best guess is|"
          r"based on the image|based on the picture|looking at the image|from the image|in this image|"
          r"in the image|well|hmm|ok|okay|so|wait|actually|on second thought|correction|therefore|thus|hence|overall|in conclusion|to conclude|"
          r"in summary|final answer|answer|the answer is|my answer is|my answer|i'd go with|i would go with)")
REFUSAL = re.compile(
    r"(?:can ?not|can't|unable to|not able to|impossible to|hard to|difficult to|couldn't|could not|no way to)\s+"
    r"(?:reliably |confidently |definitively |accurately |clearly |really )?(?:determine|tell|say|judge|answer|"
    r"know|assess|decide|infer|be sure|be certain)"
    r"|\bi(?:'m| am) (?:sorry|unable|not able|not sure|unsure|uncertain)|\bi apologi[sz]e|not enough information"
    r"|insufficient information|\b(?:is|remains|it's) (?:unclear|ambiguous|uncertain|indeterminate|undetermined)"
    r"|\bcannot be determined|can't be determined|not possible to (?:tell|determine|say)|\bi (?:can ?not|can't|"
    r"am unable to|do not|don't) (?:see|view|access|process|analy[sz]e|open|load) (?:the |this |any |your )?"
    r"(?:image|picture|photo|attachment)|no image|image (?:is )?(?:not|isn't) (?:visible|provided|available|loaded)"
    r"|as an ai|i can(?:no|')t help|i won't|i will not|unknown|not determinable|either (?:answer|option)|"
    r"could be either|both (?:are|options|answers) (?:possible|plausible|equally)|\bunsure\b|\bnot sure\b|"
    r"\bno idea\b|\bdepends\b|\bit depends\b|\bdepending on\b|\beither yes or no\b")
POSS = r"(?:its |the |the (?:green )?camera's |the viewer's |the lens's |his |her |their )?"
# a seeing verb counts only with the ball (or "it") as its object, or with none: "can see the box" says nothing
OBJ = (r"(?=\s+(?:the |that |this )?(?:red )?(?:ball|sphere|it)\b|\s*[.,;:!)]|\s*$|\s+(?:clearly|directly|from|because|"
        r"since|as|due|through|anything|at all|either))")
SEE = r"(?:see|view|spot|observe|detect|notice|perceive|capture|record|film|photograph)"
NEG_VERB = re.compile(
    r"\b(?:can ?not|can't|cant|could ?not|couldn't|is ?not able to|isn't able to|unable to|does ?not|doesn't|"
    r"do not|don't|would ?not|wouldn't|won't|will not|never)\s+(?:(?:be able to |really |possibly |actually |directly "
    r"|clearly |quite )*)" + SEE + OBJ +
    r"|\b(?:has|have) no (?:clear |direct )?(?:view|line of sight|sight)\b|\bdoes ?n[o']t have (?:a )?(?:clear |direct )?"
    r"(?:view|line of sight)\b|\black(?:s|ing)? (?:a )?(?:clear |direct )?(?:view|line of sight)\b"
    r"|\b(?:is|are|'s|remains|would be|will be)\s+(?:not|n't)\s+(?:visible|in view|in " + POSS + r"(?:view|field|sight)|"
    r"seen|within)|\bisn't (?:visible|in view|seen|within)|\bnot (?:visible|in view|seen)\b"
    r"|\b(?:is |are |'s |being |gets |remains )?(?:blocked|occluded|obstructed|hidden|concealed|obscured|covered|"
    r"shielded|screened)\b|\bout of " + POSS + r"(?:view|sight|field of view|frame|line of sight)"
    r"|\boutside (?:of )?" + POSS + r"(?:view|field of view|fov|line of sight|frame)"
    r"|\bbehind the (?:green )?camera\b|\b(?:facing|faces|faced|pointing|points|pointed|looking|looks|turned|turns|"
    r"oriented|aimed) (?:\w+ )?away\b|\b(?:opposite|other) (?:direction|way|side)\b"
    r"|\bno (?:clear |direct |unobstructed )?line of sight\b|\bnot in " + POSS + r"(?:view|line of sight|field|sight)"
    r"|\bblocks? (?:the |its |their )?(?:view|line of sight|sight|ball|it|camera)\b|\bobstructs?\b|\bin the way\b")
NOT_NEG = re.compile(r"\b(?:does not|doesn't|do not|don't|did not|didn't|would not|wouldn't)\s+(?:obstruct|block|"
                      r"occlude|hide|cover|get in the way)|\b(?:nothing|no (?:\w+ )?(?:object|obstacle|occluder|thing)s?)\s+"
                      r"(?:\w+ )?(?:blocks?|obstructs?|occludes?|hides?|covers?|stands? in|is in|gets? in|comes? between)\b|\b(?:not|n't|nothing|no (?:object|obstacle|occluder)s?)\s+(?:is |are )?(?:being )?"
                      r"(?:blocked|occluded|obstructed|hidden|concealed|obscured|blocking|obstructing|occluding|"
                      r"in the way|in between|between)|\bnot (?:out of|outside)|\bunobstructed|\bunblocked|\bnot behind")
POS_VERB = re.compile(
    r"\b(?:can|could|is able to|are able to|would be able to|will be able to|does|would|will)\s+"
    r"(?:(?:clearly |easily |directly |indeed |definitely |still |probably |likely |certainly |actually )*)"
    + SEE + OBJ +
    r"|\b(?:sees|views|spots|observes|captures)" + OBJ +
    r"|(?<!n't )(?<!not )(?<!never )\bha(?:s|ve) (?:a )?(?:clear |direct |unobstructed |good )?(?:view|line of sight|sight) (?:of|to) "
    r"(?:the (?:red )?ball|it)\b"
    r"|\b(?:is|are|'s|remains|lies|sits|appears)\s+(?:clearly |fully |directly |well |to be )?(?:visible|in view|"
    r"(?:within|inside|in) " + POSS + r"(?:view|field of view|line of sight|fov|sight))"
    r"|\b(?:clear|direct|unobstructed|unblocked) (?:line of sight|view)\b|\bin plain view\b|^(?:clearly |fully )?visible\b"
    r"|\b(?:lens|camera|it) (?:is )?(?:facing|faces|points|pointing|pointed|looks|looking|aimed|directed) "
    r"(?:directly |straight |right )?(?:at|toward|towards) (?:the (?:red )?ball|it)\b")
ANSWER_NOUNS = (r"my final answer|final answer|final response|final choice|final verdict|the correct answer|"
                 r"the correct statement|correct statement|the true statement|true statement|"
                 r"correct answer|the best answer|best answer|the right answer|the answer|my answer|answer|"
                 r"the (?:correct|right|best) (?:option|choice)|(?:correct|right|best) (?:option|choice)|my choice|"
                 r"conclusion|verdict|response|output|antwort|reponse|respuesta|risposta|resposta|antwoord|"
                 r"答案|回答|答え|結論")
ANSWER_LINE = re.compile(  # a noun needs a separator ("Answer: B", "the answer is no"); a verb does not
    r"\b(?P<noun>" + ANSWER_NOUNS + r")\s*(?:would be|will be|is\b|=|:|-|–|—)\s*[:\-–—]?\s*(?P<rest>[^\n]*)"
    r"|\b(?P<verb>i choose|i pick|i select|i'll go with|i will go with|i'd go with|i would go with|i'll choose|"
    r"i would choose|i'd choose|i'll pick|i'd pick|i answer|i'd answer|i would answer)\s+(?P<rest2>[^\n]*)", re.I)
CONCLUDE = re.compile(r"\b(?:therefore|thus|hence|so|consequently|in conclusion|to conclude|in summary|overall|"
                       r"this means|which means|as a result|accordingly|in short|altogether)\b")
NO_NOUN = re.compile(r"\s+(?:(?:clear|direct|visible|obvious|real|other|single|big|large|tall)\s+)?(?:object|obstacle|"
                      r"occluder|obstruction|barrier|thing|wall|box|block|cube|cylinder|one|part|line|view|way|path|"
                      r"matter|need|sign|evidence|issue|problem|doubt|question)s?\b")
LEXICON = {w for a, b in _PAIRS for w in a | b}
COMPARATIVES = {"closer": ("closer", "nearer", "nearest", "closest", "less far", "in front"),
                 "farther": ("farther", "further", "farthest", "furthest", "more distant", "behind")}


def fold(text: str) -> str:
    """Accents off (si, nao, reponse), full-width marks to ASCII (，： -> , :)."""
    t = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return unicodedata.normalize("NFKC", t).replace("。", ".").replace("、", ",")


def clean(text: str) -> str:
    t = fold(text).replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    t = re.sub(r"<think>.*?</think>", " ", t, flags=re.S | re.I)
    t = re.sub(r"```[a-zA-Z]*", " ", t).replace("```", " ")
    t = re.sub(r"[*_`#>]+", "", t)
    t = re.sub(r"\\boxed\{([^}]*)\}", r" \1 ", t)
    return t.strip()


def norm(s: str) -> str:
    s = s.lower().replace("can not", "cannot").replace("can't", "cannot")
    s = re.sub(r"[^a-z0-9' ]+", " ", s)
    words = s.split()
    # articles go, except a leading "a", which may be the letter A ("A (the red ball)")
    return " ".join(w for i, w in enumerate(words) if w not in ("the", "an") and (w != "a" or i == 0))


def json_answer(text: str) -> str | None:
    for m in re.finditer(r"\{[^{}]*\}", text, re.S):
        try:
            obj = json.loads(m.group(0))
        except ValueError:
            continue
        if isinstance(obj, dict):
            for key in ("answer", "final_answer", "finalAnswer", "choice", "response", "option", "Answer"):
                if isinstance(obj.get(key), (str, bool)):
                    v = obj[key]
                    return ("yes" if v else "no") if isinstance(v, bool) else v
    return None
