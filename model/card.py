"""Model cards: a JSON file beside each weights file (same stem, `.json`) describing the model."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_bytes(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def card_path(weights: str | Path) -> Path:
    return Path(weights).with_suffix(".json")


def read_card(weights: str | Path) -> dict | None:
    """The card beside `weights`, or None when there is none."""
    p = card_path(weights)
    if not p.exists():
        return None
    return json.loads(p.read_text())


def write_card(weights: str | Path, card: dict) -> Path:
    """Write `card` beside `weights`, adding the file's sha256 and size."""
    p = card_path(weights)
    card = {k: v for k, v in card.items() if k not in ("file", "sha256", "bytes")}
    card = {**card, "file": Path(weights).name, "sha256": sha256_file(weights),
            "bytes": Path(weights).stat().st_size}
    p.write_text(json.dumps(card, indent=2) + "\n")
    return p
