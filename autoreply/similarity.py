"""FAQ matching that works for Japanese: character bigrams and trigrams weighted by TF-IDF,
compared by cosine similarity. Japanese has no spaces between words, so character n-grams stand
in for words; texts are NFKC-normalised (half-width kana and full-width letters become ordinary),
case-folded, katakana folded to hiragana, and stripped of spaces and punctuation first."""

from __future__ import annotations

import math
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

_KATAKANA_TO_HIRAGANA = {code: code - 0x60 for code in range(0x30A1, 0x30F7)}


# An n-gram written in hiragana only is mostly grammar (ですか, したい, ありますか): it counts
# for this much of one with kanji, katakana, latin letters or digits, which carry the topic.
HIRAGANA_WEIGHT = 0.3


def folded(text: str) -> str:
    """The text as n-grams are taken from it."""
    text = unicodedata.normalize("NFKC", text).casefold().translate(_KATAKANA_TO_HIRAGANA)
    return "".join(c for c in text if unicodedata.category(c)[0] in "LN")


def _is_hiragana(char: str) -> bool:
    return "\u3041" <= char <= "\u309f"


def ngrams(text: str) -> dict[str, float]:
    """Weighted bigrams and trigrams of the folded text (the text itself when shorter)."""
    kept = [c for c in unicodedata.normalize("NFKC", text) if unicodedata.category(c)[0] in "LN"]
    plain = [_is_hiragana(c) for c in kept]
    letters = folded("".join(kept))
    grams: dict[str, float] = {}
    if 0 < len(letters) < 2:
        grams[letters] = 1.0
    for size in (2, 3):
        for i in range(len(letters) - size + 1):
            weight = HIRAGANA_WEIGHT if all(plain[i : i + size]) else 1.0
            gram = letters[i : i + size]
            grams[gram] = grams.get(gram, 0.0) + weight
    return grams


@dataclass(frozen=True, slots=True)
class Scored:
    index: int  # of the document in the corpus
    score: float


class Corpus:
    """Question wordings indexed for cosine similarity against a message."""

    def __init__(self, documents: Sequence[str]) -> None:
        counts = [ngrams(d) for d in documents]
        frequency: Counter[str] = Counter()
        for grams in counts:
            frequency.update(grams.keys())
        total = len(documents)
        self._size = total
        self._idf = {g: math.log((1 + total) / (1 + n)) + 1 for g, n in frequency.items()}
        self._unseen = math.log(1 + total) + 1
        # n-gram → (document, weight): a message is scored against the documents sharing its
        # n-grams only.
        self._postings: dict[str, list[tuple[int, float]]] = {}
        for index, grams in enumerate(counts):
            for gram, weight in self._weighted(grams).items():
                self._postings.setdefault(gram, []).append((index, weight))

    def _weighted(self, grams: dict[str, float]) -> dict[str, float]:
        vector = {g: n * self._idf.get(g, self._unseen) for g, n in grams.items()}
        norm = math.sqrt(sum(w * w for w in vector.values())) or 1.0
        return {g: w / norm for g, w in vector.items()}

    def scores(self, text: str) -> list[Scored]:
        """Each document's similarity to ``text``, 0 (nothing shared) to 1 (the same)."""
        totals = [0.0] * self._size
        for gram, weight in self._weighted(ngrams(text)).items():
            for index, other in self._postings.get(gram, ()):
                totals[index] += weight * other
        return [Scored(i, round(total, 4)) for i, total in enumerate(totals)]
