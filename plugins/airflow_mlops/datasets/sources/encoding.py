"""A text file's encoding, detected from its first bytes: byte-order mark, UTF-8, else a legacy encoding.

The order, and why:

1. A byte-order mark (UTF-8, UTF-16) decides.
2. A sample that decodes as UTF-8 is UTF-8 (ASCII included): legacy text with
   non-ASCII bytes almost never forms valid UTF-8 by chance.
3. A sample that is *mostly* UTF-8 (more valid multi-byte sequences than
   invalid bytes) is UTF-8 with stray bytes, e.g. two files concatenated: no
   single encoding explains it, so it is refused (``None``) rather than read
   as Windows-1252 with every accented letter turned into two.
4. Otherwise Mozilla's chardetng (Firefox's detector, through ``chardetng-py``)
   guesses among the legacy encodings. It was chosen on a corpus of CSV-shaped
   files (header, numbers, dates, a text column; 5 to 2,000 rows;
   ``tests/unit/datasets/test_datasets_encoding.py``), where it named the
   encoding of every Latin-1, Windows-1252, Windows-1251, Windows-1250,
   Shift-JIS and GB18030 file. charset-normalizer 3.5.3 read short French and
   Spanish Latin-1 files as cp1250 or cp1257 ("crème" became "crčme"), also
   when fed only the words with non-ASCII bytes, and chardet 7.7.0 read some
   French ones as ISO-8859-2 or cp1006: both would turn a clear refusal into
   silent mojibake.
5. A guess other than Windows-1252 needs at least :data:`MIN_EVIDENCE` runs
   of non-ASCII bytes (words, roughly): on the corpus, one or two Cyrillic,
   Greek or CJK words were often read in the wrong script (KOI8-U, ISO-8859-5,
   cp949), while from three on every guess was right. Windows-1252 is exempt:
   it is chardetng's answer for a Western file with a single "José", the
   commonest case, and the one this detection exists for.
6. The guess must then decode the sample strictly, and the text must look
   like text: no control characters other than tab and line breaks, nothing
   unassigned or private-use. chardetng always names *some* encoding, even for
   random bytes; this check is what makes binary data a refusal.

A file whose every byte is a printable Latin-1 or Windows-1252 character is
read as Windows-1252 (a superset of printable Latin-1, so a Latin-1 file
decodes to the same text): no detector can call such bytes wrong. Only the
sample is looked at; the reader then decodes the whole file strictly in the
detected encoding, and a later byte it does not explain is a clear error.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from dataclasses import dataclass

from chardetng_py import EncodingDetector

#: Bytes of the file's start that the encoding is detected from.
DETECT_BYTES = 1 << 20

#: Runs of non-ASCII bytes needed before a guess other than Windows-1252 is trusted.
MIN_EVIDENCE = 3

#: chardetng names encodings as the WHATWG Encoding Standard does; where that
#: standard's decoder is a superset of Python's codec of the same name, the superset.
_PYTHON_CODECS = {
    "shift_jis": "cp932",  # WHATWG Shift_JIS is Windows-31J (NEC and IBM extensions)
    "gbk": "gb18030",  # the WHATWG GBK decoder is the GB18030 decoder
    "big5": "big5hkscs",
    "euc-kr": "cp949",  # WHATWG EUC-KR is Windows-949 (Unified Hangul Code)
    "x-mac-cyrillic": "mac_cyrillic",
    "iso-8859-8-i": "iso8859-8",
}

_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}",
)
_NON_ASCII_RUN = re.compile(rb"[\x80-\xff]+")
_ALLOWED_CONTROLS = frozenset("\t\n\r")


@dataclass(frozen=True)
class Detected:
    """A Python codec name, and what decided it (``bom``, ``utf-8`` or ``detector``)."""

    encoding: str
    by: str


def detect_encoding(sample: bytes, *, complete: bool = False) -> Detected | None:
    """The encoding that explains ``sample`` (the file's first bytes), or ``None`` when none does.

    ``complete`` says the sample is the whole file; otherwise a multi-byte
    character cut at its end is ignored.
    """
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return Detected("utf-16", "bom")
    if sample.startswith(codecs.BOM_UTF8):
        return Detected("utf-8", "bom")
    if not complete and b"\n" in sample:
        sample = sample[: sample.rfind(b"\n") + 1]  # whole lines: no character cut in two
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return Detected("utf-8", "utf-8")
    if _mostly_utf8(sample):
        return None
    detector = EncodingDetector()
    detector.feed(sample, last=True)
    guess = str(detector.guess(tld=None, allow_utf8=False)).lower()
    encoding = codecs.lookup(_PYTHON_CODECS.get(guess, guess)).name
    if encoding != "cp1252" and len(_NON_ASCII_RUN.findall(sample)) < MIN_EVIDENCE:
        return None
    try:
        text = sample.decode(encoding)
    except UnicodeDecodeError:
        return None
    return Detected(encoding, "detector") if _looks_like_text(text) else None


def _mostly_utf8(sample: bytes) -> bool:
    """More valid UTF-8 multi-byte sequences than bytes outside them (UTF-8 with stray bytes)."""
    valid = _UTF8_SEQUENCE.findall(sample)
    high = sum(1 for byte in sample if byte >= 0x80)
    covered = sum(len(sequence) for sequence in valid)
    return len(valid) > high - covered


def _looks_like_text(text: str) -> bool:
    for character in set(text):
        if character.isascii() and (character.isprintable() or character in _ALLOWED_CONTROLS):
            continue
        if unicodedata.category(character) in ("Cc", "Cn", "Co", "Cs"):
            return False
    return True
