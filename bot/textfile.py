"""Text files people give us (a roster, a manifest, a list of recordings): read as text, or refused
in one line where they are not text (a binary file, a spreadsheet saved as .xlsx, a photo)."""

from __future__ import annotations

from pathlib import Path

MAX_TEXT_BYTES = 16 * 1024 ** 2  # no roster, manifest or list of recordings comes near this


class NotText(ValueError):
    """The file is not text we can read; the message says why, without the file's name."""


def decode_text(raw: bytes, legacy: bool = False) -> str:
    """`raw` as text: UTF-16 with its byte-order mark, else UTF-8 (a BOM allowed); with `legacy`,
    bytes that are not UTF-8 are read as Windows-1252 (an old spreadsheet's CSV). `NotText` for a
    binary file (NUL bytes or control characters) or, without `legacy`, for text in another encoding."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = raw.decode("utf-16")
        except UnicodeDecodeError:
            raise NotText("not readable UTF-16 text") from None
    else:
        if b"\x00" in raw:
            raise NotText("a binary file, not text")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            if not legacy:
                raise NotText("not UTF-8 text: save it as UTF-8 (CSV UTF-8 in a spreadsheet)") from None
            text = raw.decode("cp1252", "replace")
    control = sum(1 for c in text if (ord(c) < 32 and c not in "\t\r\n\f\v") or c == "\ufffd" or c == "\x7f")
    if control > max(2, 0.01 * len(text)):
        raise NotText("a binary file, not text")
    return text


def read_text(path: str | Path, legacy: bool = False) -> str:
    """The text of the file at `path` (see `decode_text`); OSError where it cannot be read,
    `NotText` where it is too large or not text."""
    p = Path(path)
    if p.is_dir():
        raise IsADirectoryError(21, "a folder, not a file", str(p))
    if p.stat().st_size > MAX_TEXT_BYTES:
        raise NotText(f"over {MAX_TEXT_BYTES // 1024 ** 2} MB: not a file of names or paths")
    return decode_text(p.read_bytes(), legacy)
