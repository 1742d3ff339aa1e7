"""Damage injected into clean training docs (domain-data.md §2.3), with category-dependent rates.

Each kind is drawn independently per doc. Rates depend a little on the category (§2.7 q7), so a
curator that conditions on ``category`` can gain: web pages about technology and everyday life
carry more markup and contact details, society pages more site chrome, biographies more
accented names (mojibake) and more duplication. The other categories sit slightly below §2.3's
base rates so that the corpus-wide rates stay near them (expected over the 9,354 clean training
docs: mojibake 9.9 %, HTML 20.3 %, PII 10.2 %, boilerplate 34.7 %, near-dup 15.4 %, exact-dup
9.9 %).

| category   | mojibake | html | pii  | boilerplate | near-dup | exact-dup |
|------------|----------|------|------|-------------|----------|-----------|
| people     | 0.14     | 0.18 | 0.09 | 0.33        | 0.22     | 0.14      |
| tech       | 0.09     | 0.40 | 0.20 | 0.33        | 0.14     | 0.09      |
| lifestyle  | 0.09     | 0.40 | 0.20 | 0.33        | 0.14     | 0.09      |
| society    | 0.09     | 0.18 | 0.09 | 0.55        | 0.14     | 0.09      |
| all others | 0.09     | 0.18 | 0.09 | 0.33        | 0.14     | 0.09      |

Every injected string is recorded exactly as it appears in the damaged text (at least 4
characters), so "left in the curated output" is a substring test.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

DAMAGE_KINDS = ("mojibake", "html", "pii", "boilerplate")

_BASE = {"mojibake": 0.09, "html": 0.18, "pii": 0.09, "boilerplate": 0.33}
_OVERRIDES: dict[str, dict[str, float]] = {
    "people": {"mojibake": 0.14},
    "tech": {"html": 0.40, "pii": 0.20},
    "lifestyle": {"html": 0.40, "pii": 0.20},
    "society": {"boilerplate": 0.55},
}
_DUP_BASE = {"near_dup": 0.14, "exact_dup": 0.09}
_DUP_OVERRIDES = {"people": {"near_dup": 0.22, "exact_dup": 0.14}}

_BOUNDARY = re.compile(r"(?<=[.!?;:])[ \n](?=\S)")
_MIN_LEN = 4


def damage_rates(category: str) -> dict[str, float]:
    """Per-doc probability of each damage kind for ``category`` (the docstring table)."""
    return {**_BASE, **_OVERRIDES.get(category, {})}


def dup_rates(category: str) -> dict[str, float]:
    """Per-doc probability of getting near / exact duplicates for ``category``."""
    return {**_DUP_BASE, **_DUP_OVERRIDES.get(category, {})}


def apply_damage(text: str, category: str, rng: random.Random) -> tuple[str, dict[str, list[str]]]:
    """Damage one clean doc; returns the raw text and ``{kind: [injected strings]}``.

    Mojibake goes first so the later insertions (which only touch whitespace and sentence
    boundaries) cannot split a corrupted word.
    """
    rates = damage_rates(category)
    draws = {kind: rng.random() < rates[kind] for kind in DAMAGE_KINDS}
    damage: dict[str, list[str]] = {}
    steps: list[tuple[str, Callable[[str, random.Random], tuple[str, list[str]]]]] = [
        ("mojibake", mojibake),
        ("html", html_residue),
        ("pii", pii_line),
        ("boilerplate", boilerplate),
    ]
    for kind, step in steps:
        if draws[kind]:
            text, strings = step(text, rng)
            damage[kind] = strings
    return text, finalize(text, damage)


def finalize(text: str, damage: dict[str, list[str]]) -> dict[str, list[str]]:
    """Dedupe, keep strings of >= 4 chars that occur in ``text``; drop empty kinds."""
    out: dict[str, list[str]] = {}
    for kind in DAMAGE_KINDS:
        kept = [s for s in dict.fromkeys(damage.get(kind, [])) if len(s) >= _MIN_LEN and s in text]
        if kept:
            out[kind] = kept
    return out


# --- mojibake -------------------------------------------------------------------------------

_CP1252_UNDEFINED = {0x81, 0x8D, 0x8F, 0x90, 0x9D}
_SMART = {"'": "\u2019", '"': "\u201c", " - ": " \u2013 "}


def _cp1252_roundtrip(ch: str) -> str:
    """How ``ch`` reads after its UTF-8 bytes are decoded as cp1252 (latin-1 for holes)."""
    return "".join(
        chr(b) if b in _CP1252_UNDEFINED else bytes([b]).decode("cp1252")
        for b in ch.encode("utf-8")
    )


def _corrupt(text: str, fn: Callable[[str], str | None]) -> tuple[str, list[str]]:
    """Replace chars by ``fn`` (None = keep); return new text and the corrupted words."""
    parts: list[str] = []
    spans: list[tuple[int, int]] = []
    pos = 0
    for ch in text:
        rep = fn(ch)
        piece = ch if rep is None else rep
        if rep is not None:
            spans.append((pos, pos + len(piece)))
        parts.append(piece)
        pos += len(piece)
    new = "".join(parts)
    return new, [_word_around(new, a, b) for a, b in spans]


def _word_around(text: str, a: int, b: int) -> str:
    """Widen ``text[a:b]`` over adjacent letters/digits, then to >= 4 chars if still short."""
    while a > 0 and text[a - 1].isalnum():
        a -= 1
    while b < len(text) and text[b].isalnum():
        b += 1
    while b - a < _MIN_LEN and (a > 0 or b < len(text)):
        a, b = max(a - 1, 0), min(b + 1, len(text))
    return text[a:b]


def mojibake(text: str, rng: random.Random) -> tuple[str, list[str]]:
    """cp1252 round-trip of all non-ASCII chars, else smart-quote mojibake, else U+FFFD."""
    has_non_ascii = any(ord(c) > 127 for c in text)
    if has_non_ascii and rng.random() < 0.75:
        return _corrupt(text, lambda c: _cp1252_roundtrip(c) if ord(c) > 127 else None)
    if any(q in text for q in ("'", '"')) and rng.random() < 0.7:
        return _corrupt(text, lambda c: _cp1252_roundtrip(_SMART[c]) if c in "'\"" else None)
    letters = [i for i, c in enumerate(text) if c.isalpha() and ord(c) < 128]
    hits = set(rng.sample(letters, min(len(letters), rng.randint(1, 4))))
    chars = list(text)
    for i in sorted(hits):
        chars[i] = "\x00"
    return _corrupt("".join(chars), lambda c: "\ufffd" if c == "\x00" else None)


# --- HTML residue ---------------------------------------------------------------------------

_CLASSES = ("lead", "mw-body", "article-text", "content", "entry", "post-body", "summary")
_INLINE = (("<strong>", "</strong>"), ("<em>", "</em>"), ("<span>", "</span>"))
_TRACKERS = (
    "window.dataLayer=window.dataLayer||[];function gtag(){{dataLayer.push(arguments);}}"
    "gtag('js',new Date());gtag('config','UA-{n}-1');",
    "var _paq=window._paq||[];_paq.push(['trackPageView']);_paq.push(['setSiteId','{n}']);",
    "(function(i,s,o,g,r){{i['GoogleAnalyticsObject']=r;}})(window,document,'script',"
    "'//www.google-analytics.com/analytics.js','ga');ga('create','UA-{n}-2','auto');",
    "fbq('init','{n}');fbq('track','PageView');",
)
_COMMENTS = (
    "<!-- ad slot {n} -->",
    "<!-- begin content -->",
    "<!-- end #main -->",
    "<!-- cached page generated in 0.{n} seconds -->",
    "<!-- google_ad_section_start -->",
)


def _boundaries(text: str) -> list[int]:
    """Indices of the whitespace char that ends a sentence."""
    return [m.start() for m in _BOUNDARY.finditer(text)]


def _insert_at_boundary(text: str, rng: random.Random, make: Callable[[str], str]) -> str:
    """Replace one sentence-ending whitespace char ``ws`` by ``make(ws)`` (or append)."""
    cuts = _boundaries(text)
    if not cuts:
        return text + make(" ")
    i = rng.choice(cuts)
    return text[:i] + make(text[i]) + text[i + 1 :]


def html_residue(text: str, rng: random.Random) -> tuple[str, list[str]]:
    """Two to four of: entities, inline tags, paragraph tags, <br>, comment, script.

    They run in this fixed order so that no step rewrites what an earlier one injected
    (entities would escape the quotes of a tag, an inline tag could land inside a comment).
    """
    ops = [_html_entities, _html_inline, _html_para, _html_br, _html_comment, _html_script]
    picked = set(rng.sample(range(len(ops)), rng.randint(2, 4)))
    injected: list[str] = []
    for op in (ops[i] for i in sorted(picked)):
        text, strings = op(text, rng)
        injected.extend(strings)
    return text, injected


def _html_para(text: str, rng: random.Random) -> tuple[str, list[str]]:
    tag = f'<p class="{rng.choice(_CLASSES)}">'
    if rng.random() < 0.5:
        div = f'<div id="{rng.choice(_CLASSES)}">'
        return f"{div}{tag}{text}</p></div>", [div, tag, "</p>", "</div>"]
    text = _insert_at_boundary(text, rng, lambda ws: f"</p>\n{tag}")
    return f"{tag}{text}</p>", [tag, "</p>"]


def _html_inline(text: str, rng: random.Random) -> tuple[str, list[str]]:
    words = [m for m in re.finditer(r"(?<![^ \n])[A-Za-z]{4,}(?![^ \n.,;:])", text)]
    if not words:
        return text, []
    m = rng.choice(words)
    if rng.random() < 0.4:
        href = f'<a href="/wiki/{m.group()}">'
        open_, close = href, "</a>"
    else:
        open_, close = rng.choice(_INLINE)
    return text[: m.start()] + open_ + m.group() + close + text[m.end() :], [open_, close]


def _html_entities(text: str, rng: random.Random) -> tuple[str, list[str]]:
    injected: list[str] = []
    spaces = [i for i, c in enumerate(text) if c == " "]
    for i in sorted(rng.sample(spaces, min(len(spaces), rng.randint(1, 3))), reverse=True):
        text = text[:i] + "&nbsp;" + text[i + 1 :]
        injected.append("&nbsp;")
    for plain, entity in (
        ("&", "&amp;"),
        ('"', "&quot;"),
        ("'", "&#39;"),
        (" \u2013 ", " &ndash; "),
    ):
        if plain in text.replace("&nbsp;", "") and rng.random() < 0.8:
            text = text.replace(plain, entity) if plain != "&" else _escape_amp(text)
            injected.append(entity.strip())
    return text, injected


def _escape_amp(text: str) -> str:
    """Escape bare ampersands, leaving the entities already injected intact."""
    return re.sub(r"&(?![a-z]+;|#\d+;)", "&amp;", text)


def _html_br(text: str, rng: random.Random) -> tuple[str, list[str]]:
    br = rng.choice(("<br>", "<br/>", "<br />"))
    return _insert_at_boundary(text, rng, lambda ws: f"{br}\n"), [br]


def _html_script(text: str, rng: random.Random) -> tuple[str, list[str]]:
    body = rng.choice(_TRACKERS).format(n=rng.randint(1000000, 9999999))
    block = f"<script>{body}</script>"
    if rng.random() < 0.5:
        return f"{text}\n{block}", [block]
    return f"{block}\n{text}", [block]


def _html_comment(text: str, rng: random.Random) -> tuple[str, list[str]]:
    comment = rng.choice(_COMMENTS).format(n=rng.randint(1, 999))
    return _insert_at_boundary(text, rng, lambda ws: f" {comment} "), [comment]


# --- PII ------------------------------------------------------------------------------------

_FIRST = ("john", "maria", "li", "ahmed", "sofia", "david", "anna", "kwame", "yuki", "lucas")
_LAST = ("smith", "garcia", "wang", "khan", "rossi", "miller", "novak", "mensah", "tanaka")
_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "example.org", "mail.ru", "web.de")
_PII_TEMPLATES = (
    "Contact: {email} | Tel: {phone} | IP {ip} | Card: {card}",
    "For enquiries email {email} or call {phone}. Logged from {ip}. Payment card {card}.",
    "Posted by {email} ({ip}) - phone {phone} - billing {card}",
    "Reach the editor at {email}, mobile {phone}; last edit from {ip}; donations via card {card}",
)


def make_pii(rng: random.Random) -> dict[str, str]:
    """A random e-mail, phone number, IPv4 address and 16-digit card-like number."""
    user = f"{rng.choice(_FIRST)}{rng.choice('._')}{rng.choice(_LAST)}{rng.randint(1, 99)}"
    phone = rng.choice(
        (
            f"+1 ({rng.randint(200, 999)}) {rng.randint(200, 999)}-{rng.randint(0, 9999):04d}",
            f"+44 20 {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
            f"{rng.randint(200, 999)}-{rng.randint(200, 999)}-{rng.randint(0, 9999):04d}",
            f"+49 30 {rng.randint(100000, 999999)}",
        )
    )
    ip = ".".join(str(rng.randint(1, 254)) for _ in range(4))
    digits = "4" + "".join(str(rng.randint(0, 9)) for _ in range(15))
    sep = rng.choice((" ", "-"))
    card = sep.join(digits[i : i + 4] for i in range(0, 16, 4))
    return {"email": f"{user}@{rng.choice(_DOMAINS)}", "phone": phone, "ip": ip, "card": card}


def pii_line(text: str, rng: random.Random) -> tuple[str, list[str]]:
    """One line carrying all four PII items, at a sentence boundary or the end."""
    pii = make_pii(rng)
    line = rng.choice(_PII_TEMPLATES).format(**pii)
    if rng.random() < 0.5:
        text = f"{text}\n{line}"
    else:
        text = _insert_at_boundary(text, rng, lambda ws: f"\n{line}\n")
    return text, list(pii.values())


# --- boilerplate ----------------------------------------------------------------------------

_SITES = ("WikiNow", "InfoHub", "KnowledgeBase", "EduPortal", "The Daily Reader", "FactFile")
_NAV = (
    "Home | About | Contact | Blog | Privacy Policy",
    "Home > Articles > {cat} > Page {n}",
    "Menu: News | Sports | Entertainment | Science | Login | Register",
    "Skip to main content | Search {site} | Sign in",
)
_TOP = (
    "We use cookies to improve your experience. By continuing to browse you agree to our "
    "use of cookies. Accept all | Manage settings",
    "This website uses cookies to ensure you get the best experience on our website. Learn more",
)
_FOOTER = (
    "\u00a9 {year} {site}. All rights reserved.",
    "Copyright {year} {site} Media Group. All Rights Reserved. Terms of Use | Privacy Policy",
    "Share this: Facebook | Twitter | Email | Print | WhatsApp",
    "Subscribe to our newsletter to get the latest articles delivered to your inbox!",
    "Posted by admin on {month} {n}, {year} in Uncategorized | {n} Comments",
    "Related posts: You may also like these articles from {site}",
    "Tags: {cat}, facts, history, encyclopedia | Leave a comment",
    "Disclaimer: The content on {site} is provided for general information only and is not a "
    "substitute for professional advice. We accept no liability for errors or omissions.",
    "About {site}: we publish free articles on {cat} and more every week. Follow us on social "
    "media and never miss an update. Advertise with us | Careers | Press | Help Center",
)
_MONTHS = ("January", "March", "May", "July", "September", "November")


def boilerplate_lines(rng: random.Random, k: int) -> tuple[list[str], list[str]]:
    """``k`` distinct filled-in lines, split into (top-of-page, bottom-of-page)."""
    fields = {
        "site": rng.choice(_SITES),
        "year": rng.randint(2008, 2024),
        "n": rng.randint(2, 48),
        "month": rng.choice(_MONTHS),
        "cat": rng.choice(("Science", "People", "Places", "Culture", "Misc")),
    }
    pool = [("top", t) for t in _NAV + _TOP] + [("bottom", t) for t in _FOOTER]
    chosen = rng.sample(pool, k)
    top = [t.format(**fields) for where, t in chosen if where == "top"]
    bottom = [t.format(**fields) for where, t in chosen if where == "bottom"]
    return top, bottom


def boilerplate(text: str, rng: random.Random) -> tuple[str, list[str]]:
    """One to four nav / cookie lines on top or footer lines below the text."""
    top, bottom = boilerplate_lines(rng, rng.randint(1, 4))
    return "\n".join([*top, text, *bottom]), top + bottom
