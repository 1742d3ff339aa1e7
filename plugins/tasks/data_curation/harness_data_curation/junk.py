"""Junk documents for the synthetic corpus (domain-data.md §2.3 table).

Each generator is a pure function of its ``random.Random`` and inputs, so the corpus is
byte-identical across runs. Mean lengths (full build; §2.3's in brackets): spam 391 chars (390),
encoding garbage 802 (740), boilerplate-only pages 300 (325), truncated fragments 65 (60), salad
616 (650; the Markov text cut into pieces), off-language 419 (380; whole FR/ES summaries).
"""

from __future__ import annotations

import base64
import random
import string

from .damage import boilerplate_lines, make_pii


def salad(rng: random.Random, n: int, blocks: list[str]) -> list[str]:
    """``n`` pieces of Markov text: consecutive blocks grouped to at least 150-900 chars."""
    pieces: list[str] = []
    current: list[str] = []
    target = rng.randint(150, 900)
    for block in blocks:
        current.append(block)
        if sum(len(b) + 1 for b in current) >= target:
            pieces.append("\n".join(current))
            current, target = [], rng.randint(150, 900)
    if current:
        pieces.append("\n".join(current))
    return rng.sample(pieces, min(n, len(pieces)))


def off_language(rng: random.Random, n: int, fr: list[str], es: list[str]) -> list[str]:
    """Half French, half Spanish Wikipedia summaries."""
    n_fr = (n + 1) // 2
    return rng.sample(fr, min(n_fr, len(fr))) + rng.sample(es, min(n - n_fr, len(es)))


_PRODUCTS = (
    "cheap viagra",
    "payday loans",
    "replica watches",
    "weight loss pills",
    "online casino",
    "crypto trading bot",
    "cheap flights",
    "seo services",
    "keto diet",
    "forex signals",
    "designer handbags",
    "car insurance quotes",
)
_SPAM_PHRASES = (
    "Buy {kw} online now!",
    "Best {kw} deals, {kw} discount, {kw} free shipping.",
    "CLICK HERE for {kw}!!!",
    "{kw} {kw} {kw} - lowest price guaranteed.",
    "Top 10 {kw} of {year}. Cheap {kw}, best {kw}, {kw} reviews.",
    "Visit http://www.{slug}-best-{n}.com for {kw}.",
    "Limited offer: {n}% OFF {kw} today only.",
    "Why pay more for {kw}? Order {kw} with no prescription.",
    "{kw} near me | {kw} for sale | buy {kw} cheap",
    "Earn ${n}00 per day from home with {kw}!",
)


def spam(rng: random.Random, n: int) -> list[str]:
    """Keyword-stuffed ad copy, 130-560 chars, sometimes with a contact line."""
    docs: list[str] = []
    for _ in range(n):
        kw = rng.choice(_PRODUCTS)
        target = rng.randint(130, 560)
        parts: list[str] = []
        while sum(len(p) + 1 for p in parts) < target:
            phrase = rng.choice(_SPAM_PHRASES).format(
                kw=kw if rng.random() < 0.8 else kw.upper(),
                year=rng.randint(2015, 2024),
                n=rng.randint(10, 90),
                slug=kw.replace(" ", "-"),
            )
            parts.append(phrase)
        if rng.random() < 0.3:
            parts.append(f"Contact {make_pii(rng)['email']} today.")
        docs.append(" ".join(parts))
    return docs


def _base64_blob(rng: random.Random, size: int) -> str:
    raw = base64.b64encode(rng.randbytes(size * 3 // 4)).decode("ascii")
    return "\n".join(raw[i : i + 76] for i in range(0, len(raw), 76))


def _hex_dump(rng: random.Random, size: int) -> str:
    lines = []
    for off in range(0, max(size // 70, 1) * 16, 16):
        data = rng.randbytes(16)
        ascii_ = "".join(chr(b) if 32 <= b < 127 else "." for b in data)
        lines.append(f"{off:08x}  {data.hex(' ')}  |{ascii_}|")
    return "\n".join(lines)


_SOUP = string.punctuation + "\u00a4\u00b6\u00a7\u2591\u2592\u2593\u2502\u2524\u00bf\u00f0\u00fe"


def _symbol_soup(rng: random.Random, size: int) -> str:
    return "".join(
        rng.choice(_SOUP) if rng.random() < 0.85 else rng.choice(" \n") for _ in range(size)
    )


def _access_log(rng: random.Random, size: int) -> str:
    lines: list[str] = []
    while sum(len(x) + 1 for x in lines) < size:
        ip = ".".join(str(rng.randint(1, 254)) for _ in range(4))
        path = rng.choice(("/index.php", "/wp-login.php", "/api/v1/items", "/img/logo.png", "/"))
        lines.append(
            f"{ip} - - [{rng.randint(1, 28):02d}/Mar/2021:{rng.randint(0, 23):02d}:"
            f'{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d} +0000] "GET {path}?id='
            f'{rng.randint(1, 99999)} HTTP/1.1" {rng.choice((200, 301, 404, 500))} '
            f'{rng.randint(100, 99999)} "-" "Mozilla/5.0 (compatible; bot/{rng.randint(1, 9)}.0)"'
        )
    return "\n".join(lines)


def garbage(rng: random.Random, n: int) -> list[str]:
    """Encoding garbage: base64, hex dumps, symbol soup and access logs, 250-1250 chars."""
    makers = (_base64_blob, _hex_dump, _symbol_soup, _access_log)
    return [makers[i % len(makers)](rng, rng.randint(250, 1250)) for i in range(n)]


_PAGES = (
    (
        "404 Not Found",
        "The page you are looking for might have been removed, had its name changed, or is "
        "temporarily unavailable.",
        "Please check the URL or go back to the homepage.",
    ),
    (
        "Log in to your account",
        "Username or email address",
        "Password",
        "Remember me | Forgot your password? | Create an account",
    ),
    (
        "JavaScript is disabled",
        "You need to enable JavaScript to run this app.",
        "Please enable JavaScript in your browser settings and reload the page.",
    ),
    (
        "Access denied",
        "You don't have permission to access this resource on this server.",
        "Error 403 - Forbidden. Reference #18.{n}",
    ),
    (
        "We'll be back soon!",
        "Sorry for the inconvenience but we're performing some maintenance at the moment.",
        "- The Team",
    ),
    (
        "Are you a robot?",
        "Please complete the security check to access this website.",
        "Checking your browser before accessing the site. This process is automatic.",
    ),
)


def boilerplate_pages(rng: random.Random, n: int) -> list[str]:
    """Pages with no content: an error / login / JS-wall body between nav and footer lines."""
    docs: list[str] = []
    for _ in range(n):
        body = [line.format(n=rng.randint(1000, 99999)) for line in rng.choice(_PAGES)]
        top, bottom = boilerplate_lines(rng, rng.randint(1, 3))
        docs.append("\n".join([*top, *body, *bottom]))
    return docs


def fragments(rng: random.Random, n: int, texts: list[str]) -> list[tuple[int, str]]:
    """``n`` truncated pieces (20-110 chars, cut mid-word) of random clean texts."""
    out: list[tuple[int, str]] = []
    for _ in range(n):
        src = rng.randrange(len(texts))
        text = texts[src]
        starts = [0] + [i + 1 for i, c in enumerate(text) if c == " "]
        start = rng.choice(starts[: max(1, len(starts) // 2)])
        out.append((src, text[start : start + rng.randint(20, 110)].strip()))
    return out
