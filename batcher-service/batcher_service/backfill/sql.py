"""SQL text for the backfill: quoting, the keyset page query, COPY fields, URL redaction."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_ESCAPES = {
    ord("b"): b"\b",
    ord("f"): b"\f",
    ord("n"): b"\n",
    ord("r"): b"\r",
    ord("t"): b"\t",
    ord("v"): b"\v",
    ord("\\"): b"\\",
}
_PASSWORD_PARAM = re.compile(r"(password=)[^&\s]*", re.IGNORECASE)


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_qualified(name: str) -> str:
    """``schema.table`` or ``table``, each part quoted; names are taken literally."""
    return ".".join(quote_ident(part) for part in name.split(".", 1))


def quote_literal(value: str) -> str:
    # COPY takes no bind parameters, so the cursor is inlined. standard_conforming_strings is
    # checked on at validation, so doubling quotes is the whole escape.
    return "'" + value.replace("'", "''") + "'"


def redact_url(url: str) -> str:
    """The URL with any password replaced, safe for logs and error messages."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if parts.password is not None:
            userinfo, _, hostinfo = netloc.rpartition("@")
            user = userinfo.split(":", 1)[0]
            netloc = f"{user}:***@{hostinfo}"
        query = _PASSWORD_PARAM.sub(r"\1***", parts.query)
        return urlunsplit(parts._replace(netloc=netloc, query=query))
    except ValueError:
        return "<unparseable url>"


def source_from(table: str | None, query: str | None) -> str:
    """The FROM item of every source read: the quoted table, or the query as a subselect."""
    if table:
        return quote_qualified(table)
    assert query
    return f"({query.strip().rstrip(';')})"


def page_sql(
    from_sql: str,
    key_column: str,
    columns: list[str],
    key_type: str,
    *,
    cursor: str | None,
    upper: str | None,
    limit: int,
) -> str:
    """Keyset pagination: the next ``limit`` rows after ``cursor``, in key order, never OFFSET."""
    key = quote_ident(key_column)
    where = []
    if cursor is not None:
        where.append(f"{key} > {quote_literal(cursor)}::{key_type}")
    if upper is not None:
        where.append(f"{key} <= {quote_literal(upper)}::{key_type}")
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    cols = ", ".join(quote_ident(c) for c in columns)
    return f"SELECT {cols} FROM {from_sql} AS src{clause} ORDER BY {key} LIMIT {int(limit)}"


def unescape_text_field(raw: bytes) -> str | None:
    """Decode one field of COPY's text format (backslash escapes; ``\\N`` is NULL)."""
    if raw == b"\\N":
        return None
    if b"\\" not in raw:
        return raw.decode()
    out = bytearray()
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch == ord("\\") and i + 1 < len(raw):
            nxt = raw[i + 1]
            if nxt in _ESCAPES:
                out += _ESCAPES[nxt]
                i += 2
                continue
            if nxt == ord("x"):
                digits = re.match(rb"[0-9a-fA-F]{1,2}", raw[i + 2 : i + 4])
                if digits:
                    out.append(int(digits.group(), 16))
                    i += 2 + len(digits.group())
                    continue
            octal = re.match(rb"[0-7]{1,3}", raw[i + 1 : i + 4])
            if octal:
                out.append(int(octal.group(), 8) & 0xFF)
                i += 1 + len(octal.group())
                continue
            out.append(nxt)
            i += 2
            continue
        out.append(ch)
        i += 1
    return out.decode()


def last_key_text(page: bytes) -> str | None:
    """The key (first field) of the last row of a COPY text page, in source order."""
    end = len(page) - 1  # the page ends with the last row's newline
    start = page.rfind(b"\n", 0, end) + 1
    line = page[start:end]
    tab = line.find(b"\t")
    return unescape_text_field(line if tab < 0 else line[:tab])


def last_key_binary(page: bytes, width: int) -> str:
    """The integer key of the last row of a binary COPY page whose last column is the key.

    The page ends with the key's 4-byte length, its ``width`` big-endian bytes and the
    2-byte trailer, so no row before it needs parsing.
    """
    end = len(page) - 2
    length = int.from_bytes(page[end - width - 4 : end - width], "big", signed=True)
    if page[end:] != b"\xff\xff" or length != width:
        raise ValueError(f"binary COPY page does not end with a {width}-byte key")
    return str(int.from_bytes(page[end - width : end], "big", signed=True))
