"""Every realistic spelling of a secret, as one pattern per secret.

A server that echoes a key rarely echoes it byte for byte. The spellings found in the
wild, and searched for here, are:

- the key itself, in any letter case;
- JSON string escapes: ``\\/`` for ``/``, any character as ``\\uXXXX`` (upper- or
  lower-case hex, a surrogate pair beyond the BMP), the short escapes, and the same
  escapes escaped again (``\\\\u002d``: JSON inside JSON, a body inside a result file);
- URL percent-encoding of any character (``%2F`` / ``%2f``, one ``%XX`` per UTF-8 byte)
  and ``+`` for a space;
- HTML character references (``&#47;``, ``&#x2F;``, ``&sol;``, ``&amp;``...), as an HTML
  page or an HTML error page from a proxy writes them;
- base64 and base64url, at each of the three byte alignments (an echoed ``Basic``
  credential or a token wrapped in another): the stable middle of the encoding, for
  secrets long enough that the middle cannot occur by chance.

Each character of the secret may be spelled differently (``sk\\u002dab%2Fc``), so the
pattern is one alternation per character. Patterns exist for text (``str``) and for
bytes (UTF-8).
"""

from __future__ import annotations

import base64
import re
from functools import lru_cache

__all__ = ["BASE64_MIN", "base64_forms", "pattern", "text_pattern"]

#: characters of a base64 middle below which it is not searched for (it could be chance)
BASE64_MIN = 12
#: JSON short escapes, by the character they stand for
_JSON_SHORT = {
    "/": "/",
    '"': '"',
    "\\": "\\",
    "\b": "b",
    "\f": "f",
    "\n": "n",
    "\r": "r",
    "\t": "t",
}
#: HTML named references for the ASCII punctuation keys are made of
_HTML_NAMED = {
    "&": ("amp",),
    "<": ("lt",),
    ">": ("gt",),
    '"': ("quot",),
    "'": ("apos",),
    "/": ("sol",),
    "=": ("equals",),
    "+": ("plus",),
    "-": ("hyphen", "dash"),
    "_": ("lowbar", "UnderBar"),
    ".": ("period",),
    ":": ("colon",),
    "#": ("num",),
    "%": ("percnt",),
    "~": ("tilde",),
}
#: the rest of a run of backslashes after the first: an escape escaped again
_MORE_BACKSLASHES = r"\\{0,7}"


def _units(char: str) -> list[int]:
    """The UTF-16 code units of ``char`` (two for a character beyond the BMP)."""
    code = ord(char)
    if code < 0x10000:
        return [code]
    code -= 0x10000
    return [0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF)]


def _anycase(text: str) -> str:
    """``text`` as a regex matching it in any letter case (ASCII letters only)."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isascii() and c.isalpha() else c for c in text)


def _char_alternatives(char: str) -> tuple[list[str], list[str]]:
    """The literal spellings of one character of a secret, and its escaped spellings as
    ASCII regexes.

    Every alternative starts with a literal character, so the regex engine can skip
    ahead to the next possible start instead of trying every position (no
    ``re.IGNORECASE``, which would prevent that: letter case is spelled out instead).
    """
    literals = sorted({char, char.lower(), char.upper()} - {""})
    literals = [c for c in literals if len(c) == 1]
    escaped = [
        r"\\"
        + _MORE_BACKSLASHES
        + "".join(
            ("u" if i == 0 else r"\\" + _MORE_BACKSLASHES + "u") + _anycase(f"{unit:04x}")
            for i, unit in enumerate(_units(char))
        )
    ]
    if char in _JSON_SHORT:
        escaped.append(r"\\" + _MORE_BACKSLASHES + re.escape(_JSON_SHORT[char]))
    utf8 = char.encode("utf-8", "surrogatepass")
    escaped.append("".join("%" + _anycase(f"{byte:02x}") for byte in utf8))
    if char == " ":
        escaped.append(r"\+")
    code = ord(char)
    escaped.append(f"&#0*{code};")
    escaped.append(f"&#[xX]0*{_anycase(f'{code:x}')};")
    escaped.extend(f"&{name};" for name in _HTML_NAMED.get(char, ()))
    return literals, escaped


@lru_cache(maxsize=64)
def text_pattern(secret: str) -> re.Pattern[str]:
    """The pattern of every spelling of ``secret`` in text."""
    groups = []
    for char in secret:
        literals, escaped = _char_alternatives(char)
        groups.append("(?:" + "|".join([*map(re.escape, literals), *escaped]) + ")")
    forms = ["".join(groups), *(re.escape(f) for f in base64_forms(secret))]
    return re.compile("|".join(f"(?:{f})" for f in forms))


@lru_cache(maxsize=64)
def pattern(secret: str) -> re.Pattern[bytes]:
    """The pattern of every spelling of ``secret`` in UTF-8 bytes."""
    groups = []
    for char in secret:
        literals, escaped = _char_alternatives(char)
        alts = [re.escape(c.encode("utf-8", "surrogatepass")) for c in literals]
        alts += [e.encode("ascii") for e in escaped]
        groups.append(b"(?:" + b"|".join(alts) + b")")
    forms = [b"".join(groups), *(re.escape(f.encode("ascii")) for f in base64_forms(secret))]
    return re.compile(b"|".join(b"(?:" + f + b")" for f in forms))


@lru_cache(maxsize=64)
def base64_forms(secret: str) -> tuple[str, ...]:
    """The stable middles of ``secret``'s base64 and base64url encodings.

    Whatever precedes the secret in the encoded bytes, one of three alignments holds; in
    each, the encoding of the secret's middle does not depend on its neighbours.
    """
    raw = secret.encode("utf-8", "surrogatepass")
    forms: set[str] = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode("ascii")
        skip = (offset * 4 + 2) // 3
        middle = encoded[skip + 1 : -4]
        if len(middle) >= BASE64_MIN:
            forms.add(middle)
            forms.add(middle.replace("+", "-").replace("/", "_"))
    return tuple(sorted(forms, key=len, reverse=True))
