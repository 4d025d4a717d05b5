"""A class roster: the names OCR readings are matched to, so that a tile is named right or not at all.

`load_roster(path)` reads one name a line, or the participant list a meeting app exports: Zoom's
CSV ("Name (original name)" or "Name (Original Name)"), Google Meet's attendance CSV ("Full name",
or "First name" and "Last name"), Microsoft Teams' attendance report (tab-separated, often UTF-16,
"Full Name" or "Name"). Names are matched with rapidfuzz (a maintained C++ implementation of
token-aware fuzzy ratios: OCR drops letters, adds icons' stray characters and splits words), after
Unicode normalisation and case folding.

`Roster.match(readings)` names each tile with the roster name that fits its reading best, one
tile a name, and leaves a tile unnamed (None) where the best fit scores below `threshold`: a
wrong name is worse than none.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path

from bot.textfile import NotText, read_text

THRESHOLD = 70.0  # rapidfuzz WRatio (0-100) below which a reading is left unnamed
MIN_CHARS = 3     # a reading with fewer letters or digits (2 Hangul or CJK syllables) is matched to nobody

# header cells (case-folded) that hold a participant's whole name, in the order they are tried
_NAME_COLUMNS = ("name (original name)", "name (original name) ", "full name", "name", "participant",
                 "participant name", "display name", "attendee name", "user name")
_ZOOM_SUFFIX = re.compile(r"\s*\((?:host|co-host|guest|me)\)\s*$", re.I)


class RosterError(ValueError):
    """The roster file cannot be read; the message says which and why."""


def normalise(name: str) -> str:
    """A name as compared: Unicode NFKC, case-folded, single spaces."""
    return " ".join(unicodedata.normalize("NFKC", str(name)).casefold().split())


def load_roster(path: str | Path) -> list[str]:
    """The names in a roster file (see the module docstring), in file order, without repeats."""
    p = Path(path)
    try:
        text = read_text(p, legacy=True)
    except OSError as e:
        raise RosterError(f"{p}: cannot read the roster ({e.strerror or e})") from None
    except NotText as e:
        raise RosterError(f"{p}: not a roster: {e} (one name a line, or a participant CSV)") from None
    names = parse_roster(text)
    if not names:
        raise RosterError(f"{p}: no names found (one name a line, or a participant CSV from Zoom, Meet or Teams)")
    return names


def parse_roster(text: str) -> list[str]:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        return []
    names: list[str] = []
    table = _table(lines)
    if table is not None:
        header, rows = table
        cols = [normalise(h) for h in header]
        if any(c in cols for c in _NAME_COLUMNS):
            k = next(cols.index(c) for c in _NAME_COLUMNS if c in cols)
            names = [r[k] for r in rows if len(r) > k]
        elif "first name" in cols and "last name" in cols:
            a, b = cols.index("first name"), cols.index("last name")
            names = [f"{r[a]} {r[b]}" for r in rows if len(r) > max(a, b)]
    if not names:
        names = lines
    out, seen = [], set()
    for n in names:
        n = _ZOOM_SUFFIX.sub("", " ".join(str(n).split()))
        if n and normalise(n) not in seen and not n.startswith("#"):
            seen.add(normalise(n))
            out.append(n)
    return out


def _table(lines: list[str]) -> tuple[list[str], list[list[str]]] | None:
    """(header, rows) where the text is a delimited table with a header row naming a column we know
    (Teams puts a summary block first: the table starts at its header row)."""
    for delim in ("\t", ",", ";"):
        if not any(delim in ln for ln in lines[:40]):
            continue
        rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delim))
        for i, row in enumerate(rows[:40]):
            cols = [normalise(c) for c in row]
            if len(cols) > 1 and (any(c in cols for c in _NAME_COLUMNS) or ("first name" in cols and "last name" in cols)):
                return row, [r for r in rows[i + 1:] if any(c.strip() for c in r)]
    return None


class Roster:
    """`Roster(names, threshold=70)`; `match(readings) -> names` (one per reading, None where none
    fits well enough, each roster name given to one tile at most)."""

    def __init__(self, names: Iterable[str], threshold: float = THRESHOLD):
        self.names = [n for n in dict.fromkeys(str(n).strip() for n in names) if n]
        self.threshold = float(threshold)
        self._keys = [normalise(n) for n in self.names]

    @classmethod
    def from_file(cls, path: str | Path, threshold: float = THRESHOLD) -> "Roster":
        return cls(load_roster(path), threshold)

    def __len__(self) -> int:
        return len(self.names)

    def score(self, reading: str | None) -> list[float]:
        """How well `reading` fits each roster name (0-100)."""
        from rapidfuzz import fuzz

        letters = re.sub(r"\W", "", reading or "")
        syllabic = any("\u1100" <= c <= "\u11ff" or "\uac00" <= c <= "\ud7af" or "\u4e00" <= c <= "\u9fff"
                       or "\u3040" <= c <= "\u30ff" for c in letters)
        if len(letters) < (2 if syllabic else MIN_CHARS):
            return [0.0] * len(self.names)  # two letters fit too many names (two Hangul syllables do not)
        r = normalise(reading)
        # a reading under half a name's length is scored against the whole name: as a part of it
        # ("ere" in "erica holt", "ane" in "shaner") three letters of noise fit too many names
        return [float(fuzz.WRatio(r, k) if len(r) >= 0.5 * len(k) else fuzz.ratio(r, k)) for k in self._keys]

    def match(self, readings: Sequence[str | None]) -> list[str | None]:
        """Best roster name per reading, one tile a name (best pairs first), None below the threshold."""
        pairs = []
        for i, reading in enumerate(readings):
            for j, s in enumerate(self.score(reading)):
                if s >= self.threshold:
                    pairs.append((s, i, j))
        out: list[str | None] = [None] * len(readings)
        used: set[int] = set()
        for s, i, j in sorted(pairs, key=lambda p: (-p[0], p[1], p[2])):
            if out[i] is None and j not in used:
                out[i] = self.names[j]
                used.add(j)
        return out
