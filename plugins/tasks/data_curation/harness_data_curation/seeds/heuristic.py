"""Heuristic curator: clean each document's text, gate it with per-category rules, deduplicate.

Contract: ``curate(docs)`` gets every raw document as ``{"id", "text", "category"}`` and
returns the documents to keep as ``{"id", "text"}`` (each input id at most once, text
unchanged or rewritten; a dropped document is simply absent). Standard library only.

Strategy, in order, for each document:
1. Clean the text: drop ``<script>``/``<style>`` blocks and HTML comments, strip tags,
   decode entities; repair mojibake (runs of cp1252/latin-1 characters re-read as the UTF-8
   bytes they came from), delete U+FFFD and straighten curly quotes; drop boilerplate lines:
   short ones matching a pattern (navigation bars, cookie banners, copyright, share,
   newsletter, "Posted by" footers) and any line found on ``MIN_LINE_PAGES`` or more
   distinct pages (site chrome no pattern names); drop short lines holding PII (e-mail,
   phone, IPv4, card-like numbers) and redact PII inside long lines.
2. Gate the cleaned text with the rules of its category (``RULES[category]`` over
   ``RULES["default"]``): minimum length, share of letters, share of English stopwords
   (drops French/Spanish pages and keyword lists), Gopher-style mean word length and
   repetition gates (character share of the most frequent word pair, repeated word 5-grams).
3. Deduplicate: exact duplicates of the cleaned text, then near duplicates whose word
   5-gram sets overlap (Jaccard estimated from bottom-k MinHash sketches) by at least the
   category's ``near_dup_jaccard``. A document joins the group of every earlier document it
   matches (union-find), so copies that differ from each other more than from their common
   source still end up together. Of each group the copy that needed the least cleaning is
   kept (the first one on a tie): edited copies usually carry extra boilerplate.

Per-category rules are the unit of evolution: add a category entry with the keys to
override (math and tech texts hold more symbols and digits, so their letter share may be
lower). Known blind spot: fluent Markov word salad passes every gate here; removing it needs
a quality signal about word order (e.g. how predictable each word is from its neighbours).
"""

import heapq
import html
import re
import zlib
from collections import Counter

# EVOLVE-BLOCK-START
RULES = {
    "default": {
        "min_chars": 150.0,  # cleaned characters (the clean base starts at 150)
        "min_alpha_ratio": 0.75,  # letters / non-whitespace characters
        "min_stopword_ratio": 0.14,  # English stopwords / words (English prose: 0.3 to 0.5)
        "min_mean_word_len": 3.0,  # Gopher keeps mean word length in [3, 10]
        "max_mean_word_len": 10.0,
        "max_top_bigram_share": 0.25,  # characters in the most frequent word pair (Gopher 0.20)
        "max_dup_ngram_ratio": 0.15,  # word 5-grams seen more than once / all 5-grams
        "near_dup_jaccard": 0.35,  # estimated 5-gram Jaccard that marks a near duplicate
    },
    "math": {"min_alpha_ratio": 0.6, "max_top_bigram_share": 0.3},
    "tech": {"min_alpha_ratio": 0.65, "max_mean_word_len": 11.0},
    "science": {"min_alpha_ratio": 0.68},
}
NGRAM = 5  # words per shingle for the repetition gate and near dedup
SKETCH_SIZE = 64  # bottom-k sketch length (more = better Jaccard estimates, slower)
MIN_SHARED = 8  # sketch values two documents must share before Jaccard is estimated
MAX_BOILERPLATE_LINE = 250.0  # longer lines are content even if they match a pattern
MIN_LINE_PAGES = 6  # a line on this many distinct pages is site chrome
MAX_PII_LINE = 200.0  # shorter lines with PII are dropped, longer ones redacted

STOPWORDS = frozenset(
    "the of and to is was that with for as by from which were this are his her it its be "
    "has have had an at on their also or not he she they who been but after into than "
    "when would there these other most first between during over such only some about "
    "many more while through may can both all".split()
)
BOILERPLATE = re.compile(
    r"cookie|copyright|\u00a9|all rights reserved|share (this|on)|newsletter|\bsubscribe\b|"
    r"posted by|read more|click here|privacy policy|terms of (use|service)|log ?in\b|"
    r"sign (in|up)|skip to|back to top|javascript|\bhome\s*[|>\u00bb/-]|related posts|"
    r"you may also like|leave a comment|^(tags|menu):|disclaimer|advertise with us|follow us|"
    r"[|\u00bb\u2022]\s*\w+\s*[|\u00bb\u2022]",
    re.IGNORECASE,
)
PII = re.compile(
    r"[\w.+-]+@[\w-]+(\.[\w-]+)+"
    r"|(\+\d{1,3}[\s.-]?)?\(?\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}\b"
    r"|\b\d{1,3}(\.\d{1,3}){3}\b"
    r"|\b\d{4}([ -]?)\d{4}\4\d{4}\4\d{4}\b"
)

BLOCKS = re.compile(r"<(script|style)\b.*?</\1\s*>|<!--.*?-->", re.IGNORECASE | re.DOTALL)
TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(\s[^<>]*)?/?>")
ENTITY = re.compile(r"&(#\d+|#x[0-9a-fA-F]+|[A-Za-z]+);")
MOJIBAKE = re.compile(
    "[\u0080-\u00ff\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc"
    "\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122]{2,}"
)
SPACES = re.compile(r"[ \t]+")
QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})
WORD = re.compile(r"\w+")
DIGITS = re.compile(r"\d+")


def _restore(ch):
    """A character of the decoded run: a byte that was not valid UTF-8 (kept as a surrogate)
    goes back to the character it was read as."""
    if not "\udc80" <= ch <= "\udcff":
        return ch
    byte = ch.encode("utf-8", "surrogateescape")
    try:
        return byte.decode("cp1252")
    except UnicodeDecodeError:
        return byte.decode("latin-1")


def _unmojibake(match):
    """The run decoded as the UTF-8 bytes it was mis-read from; the characters that do not
    form valid UTF-8 (a genuine dash next to a broken quote) stay as they were."""
    run = match.group()
    data = bytearray()
    for ch in run:
        try:
            data += ch.encode("cp1252")
        except UnicodeEncodeError:
            try:
                data += ch.encode("latin-1")
            except UnicodeEncodeError:
                return run
    return "".join(map(_restore, data.decode("utf-8", "surrogateescape")))


def strip_markup(text):
    """Text without script/style blocks, comments and tags, entities decoded (&nbsp; as a
    plain space)."""
    if "<" in text:
        text = TAG.sub("", BLOCKS.sub("", text))
    if "&" in text:
        text = ENTITY.sub(lambda m: html.unescape(m.group()).replace("\u00a0", " "), text)
    return text


def repair_encoding(text):
    """Mojibake runs repaired, replacement characters removed, curly quotes made straight
    (the clean text uses straight ones)."""
    return MOJIBAKE.sub(_unmojibake, text).replace("\ufffd", "").translate(QUOTES)


def split_lines(text):
    """The non-empty lines of a text, spaces collapsed."""
    lines = (SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return [line for line in lines if line]


def line_key(line):
    """A line with digits blanked and case folded, so that templated chrome (dates, counts,
    page numbers) repeats exactly across pages."""
    return DIGITS.sub("0", line.lower())


def repeated_lines(pages):
    """Keys of lines that occur on at least ``MIN_LINE_PAGES`` distinct pages: site chrome
    that no pattern list names (CCNet-style line deduplication)."""
    seen_pages = set()
    counts = Counter()
    for lines in pages:
        page = "\n".join(lines)
        if page not in seen_pages:
            seen_pages.add(page)
            counts.update({line_key(line) for line in lines})
    return {key for key, count in counts.items() if count >= MIN_LINE_PAGES}


def clean_lines(lines, repeated):
    """Lines without boilerplate (matching a pattern, or repeated across many pages) or PII
    lines; PII inside long lines redacted."""
    kept = []
    for line in lines:
        if line_key(line) in repeated:
            continue
        if len(line) <= MAX_BOILERPLATE_LINE and BOILERPLATE.search(line):
            continue
        if PII.search(line):
            if len(line) <= MAX_PII_LINE:
                continue
            line = SPACES.sub(" ", PII.sub("", line)).strip()
        kept.append(line)
    return "\n".join(kept)


def alpha_ratio(text):
    """Share of letters among the non-whitespace characters."""
    visible = len(text) - sum(text.count(ch) for ch in " \n\t")
    return sum(ch.isalpha() for ch in text) / max(visible, 1)


def shingles(words):
    """Stable 32-bit hashes of the word n-grams, in order (repeats kept)."""
    grams = zip(*(words[start:] for start in range(NGRAM)), strict=False)
    return [zlib.crc32(" ".join(gram).encode()) for gram in grams]


def passes(text, words, hashes, rule):
    """Whether the cleaned text passes every quality gate of its category's rule."""
    if len(text) < rule["min_chars"] or not words:
        return False
    if alpha_ratio(text) < rule["min_alpha_ratio"]:
        return False
    stop = sum(word in STOPWORDS for word in words)
    if stop / len(words) < rule["min_stopword_ratio"]:
        return False
    mean_len = sum(map(len, words)) / len(words)
    if not rule["min_mean_word_len"] <= mean_len <= rule["max_mean_word_len"]:
        return False
    pairs = Counter(zip(words, words[1:], strict=False))
    if pairs:
        count = max(pairs.values())
        first, second = next(pair for pair, seen in pairs.items() if seen == count)
        share = count * (len(first) + len(second)) / sum(map(len, words))
        if share > rule["max_top_bigram_share"]:
            return False
    if hashes:
        counts = Counter(hashes)
        repeated = sum(n for n in counts.values() if n > 1)
        if repeated / len(hashes) > rule["max_dup_ngram_ratio"]:
            return False
    return True


def jaccard(sketch_a, sketch_b):
    """Jaccard estimate from two sorted bottom-k sketches (share of the union's bottom k)."""
    union = sorted(set(sketch_a) | set(sketch_b))[:SKETCH_SIZE]
    both = set(sketch_a) & set(sketch_b)
    return sum(value in both for value in union) / len(union)


def rule_for(category):
    return {**RULES["default"], **RULES.get(category, {})}


def root(parent, member):
    """The representative member of ``member``'s duplicate group (union-find)."""
    while parent[member] != member:
        parent[member] = parent[parent[member]]
        member = parent[member]
    return member


def duplicates_of(sketch, index, members, parent, threshold):
    """Groups (roots) holding an earlier member whose sketch shares at least ``MIN_SHARED``
    values with this one and whose Jaccard estimate reaches ``threshold``."""
    shared = Counter(m for value in sketch for m in index.get(value, ()))
    groups = []
    for member, count in shared.most_common():
        if count < MIN_SHARED:
            break
        group = root(parent, member)
        if group not in groups and jaccard(sketch, members[member]["sketch"]) >= threshold:
            groups.append(group)
    return groups


def curate(docs):
    exact = {}  # cleaned text -> member index
    index = {}  # sketch value -> member indices
    members = []  # {"sketch", "score": (removed chars, position), "doc"}, gate passers
    parent = []  # union-find over members: near duplicates share a root
    pages = [split_lines(repair_encoding(strip_markup(doc["text"]))) for doc in docs]
    repeated = repeated_lines(pages)
    for position, (doc, lines) in enumerate(zip(docs, pages, strict=True)):
        rule = rule_for(doc.get("category", "default"))
        if len(doc["text"]) < rule["min_chars"]:
            continue
        text = clean_lines(lines, repeated)
        words = WORD.findall(text.lower())
        hashes = shingles(words)
        if not passes(text, words, hashes, rule):
            continue
        me = len(members)
        sketch = sorted(heapq.nsmallest(SKETCH_SIZE, set(hashes)))
        members.append(
            {
                "sketch": sketch,
                "score": (len(doc["text"]) - len(text), position),
                "doc": {"id": doc["id"], "text": text},
            }
        )
        parent.append(me)
        if text in exact:
            parent[me] = root(parent, exact[text])
            continue
        exact[text] = me
        for group in duplicates_of(sketch, index, members, parent, rule["near_dup_jaccard"]):
            parent[root(parent, group)] = root(parent, me)
        for value in sketch:
            index.setdefault(value, []).append(me)
    best = {}
    for me, member in enumerate(members):
        group = root(parent, me)
        if group not in best or member["score"] < members[best[group]]["score"]:
            best[group] = me
    return [members[me]["doc"] for me in sorted(best.values())]


# EVOLVE-BLOCK-END
