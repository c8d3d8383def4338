"""Find entity declarations in a document, whatever encoding hides them.

parse.py refuses any document whose DTD declares entities: feeds never need
them, and expanding them is how "billion laughs" documents exhaust memory.
A declaration written in UTF-16 or UTF-7 is still a declaration, so the
bytes are searched in every encoding they could plausibly be read in.
"""

from __future__ import annotations

import codecs
import re

_ENTITY_TEXT = re.compile(r"<!\s*ENTITY", re.IGNORECASE)
_ENTITY_BYTES = re.compile(rb"<!\s*ENTITY", re.IGNORECASE)
_XML_ENCODING = re.compile(r"""<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]{1,40})["']""")
# A Content-Type's charset parameter (blocks.py reads it too).
CHARSET_PARAMETER = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9._:-]{1,40})""", re.IGNORECASE)
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Decodings in which the bytes "<!ENTITY" can only mean "<!ENTITY": searching the
# raw bytes is enough. (Not UTF-7: "+ADw-" is "<". Not ISO-2022: escapes shift.)
_COVERED_BY_BYTES = frozenset({"utf-8", "ascii", "iso8859-1", "cp1252"})
_WIDE = ("utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")


def declares_entities(body: bytes, content_type: str | None) -> bool:
    """True if `<!ENTITY` appears in any plausible decoding of `body`."""
    # One search over the raw bytes covers UTF-8 and every ASCII-compatible charset.
    if _ENTITY_BYTES.search(body):
        return True
    return any(
        _ENTITY_TEXT.search(body.decode(encoding, "ignore"))
        for encoding in _candidate_encodings(body, content_type)
        if codecs.lookup(encoding).name not in _COVERED_BY_BYTES
    )


def _candidate_encodings(body: bytes, content_type: str | None) -> list[str]:
    names = ["utf-8", "utf-7"]
    names += [name for bom, name in _BOMS if body.startswith(bom)]
    head = body[:4096]
    if b"\x00" in head:
        names += _WIDE
    if head.startswith(b"\x4c\x6f\xa7\x94"):  # "<?xm" in EBCDIC
        names.append("cp037")
    if content_type and (match := CHARSET_PARAMETER.search(content_type)):
        names.append(match.group(1))
    for name in list(names):
        if _usable(name) and (match := _XML_ENCODING.search(head.decode(name, "ignore"))):
            names.append(match.group(1))
    return [name for name in dict.fromkeys(names) if _usable(name)]


def _usable(encoding: str) -> bool:
    """A text encoding Python knows (not base64, zlib and the like)."""
    try:
        return codecs.lookup(encoding)._is_text_encoding
    except LookupError:
        return False
