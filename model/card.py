"""Model cards: a JSON file beside each weights file (same stem, `.json`) describing the model.

`ModelCard` is the one typed reading of that JSON: classes, input, serving, metrics, temperature,
multiply-adds. Keys it does not know are kept in `extra` and written back unchanged, so a card
written by an older or newer version survives a round trip.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model.emotions import EMOTIONS


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


@dataclass
class ModelCard:
    """What a weights file is and how it serves.

    `input["contrast"]`: the contrast step before the network (`model.contrast`); `serving`: the
    LiteRT form (`file`, `sha256`, `views`: the test-time views served by default, figures);
    `temperature`: divides the log-probabilities before the served softmax (1 = uncalibrated);
    `top_label_map`: after it, one (a, b, m) row a class remapping the top probability of faces
    whose top class it is (`model.calibration`; empty: none);
    `multiply_adds`: `per_view` and `per_face` (all served views) of the served network;
    `val`, `val_tta`: FER2013 val figures of the `.keras` file in one view and four."""

    classes: list[str] = field(default_factory=lambda: list(EMOTIONS))
    name: str | None = None
    input: dict[str, Any] = field(default_factory=dict)
    preprocessing: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    recipe: dict[str, Any] = field(default_factory=dict)
    optimizer: str | None = None
    seed: int | None = None
    epochs: int | None = None
    best_epoch: int | None = None
    command: str | None = None
    val: dict[str, Any] = field(default_factory=dict)
    val_tta: dict[str, Any] = field(default_factory=dict)
    serving: dict[str, Any] = field(default_factory=dict)
    temperature: float = 1.0
    top_label_map: list[list[float]] = field(default_factory=list)
    calibration: dict[str, Any] = field(default_factory=dict)
    multiply_adds: dict[str, Any] = field(default_factory=dict)
    date: str | None = None
    file: str | None = None
    sha256: str | None = None
    bytes: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelCard":
        """The card of a JSON object; ValueError naming the field where it is not a card's shape
        (so that a damaged card is refused at load, never served as NaN scores)."""
        if not isinstance(d, dict):
            raise ValueError(f"a model card is a JSON object, not {type(d).__name__ if d is not None else 'null'}")
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        known = {k: v for k, v in d.items() if k in names and v is not None}
        for f in dataclasses.fields(cls):
            if f.name in known and f.name != "extra":
                want = {"dict": dict, "list": list}.get(str(f.type).split("[")[0])
                if want is not None and not isinstance(known[f.name], want):
                    raise ValueError(f"{f.name} must be a JSON {'object' if want is dict else 'array'}, "
                                     f"not {known[f.name]!r}")
        card = cls(**known, extra={k: v for k, v in d.items() if k not in names})
        try:
            card.temperature = float(card.temperature)
        except (TypeError, ValueError):
            raise ValueError(f"temperature must be a number, not {card.temperature!r}") from None
        if not math.isfinite(card.temperature) or card.temperature <= 0:
            raise ValueError(f"temperature must be a finite number above 0, not {card.temperature}")
        views = card.serving.get("views", 1)
        if isinstance(views, bool) or not isinstance(views, int) or views < 1:
            raise ValueError(f"serving.views must be a whole number of at least 1, not {views!r}")
        try:
            card.top_label_map = [[float(v) for v in row] for row in card.top_label_map]
        except (TypeError, ValueError):
            raise ValueError("top_label_map must be an array of arrays of numbers") from None
        return card

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        d = {k: v for k, v in d.items() if v not in (None, {}, [])}
        if self.temperature == 1.0 and not self.calibration:
            d.pop("temperature")
        return {**d, **self.extra}

    @classmethod
    def read(cls, weights: str | Path) -> "ModelCard | None":
        """The card beside `weights`, or None when there is none. Raises OSError/ValueError when
        it is unreadable."""
        p = card_path(weights)
        if not p.exists():
            return None
        return cls.from_dict(json.loads(p.read_text()))

    def write(self, weights: str | Path) -> Path:
        """Write the card beside `weights`, with the file's name, sha256 and size filled in."""
        self.file, self.sha256, self.bytes = Path(weights).name, sha256_file(weights), Path(weights).stat().st_size
        p = card_path(weights)
        p.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return p

    # Typed views of the fields serving relies on.
    @property
    def contrast(self) -> str:
        return str(self.input.get("contrast", "none"))

    @property
    def views(self) -> int:
        """How many test-time views serve by default (the LiteRT form's; 1 without one)."""
        return int(self.serving.get("views", 1))

    def figures(self, backend: str, views: int) -> dict:
        """Val figures for a backend ("litert"/"keras") and a number of views (1 or 4)."""
        source = self.serving if backend == "litert" else dataclasses.asdict(self)
        key = "val" if views == 1 else "val_tta"
        return source.get(key) or self.val or {}


def read_card(weights: str | Path) -> ModelCard | None:
    """`ModelCard.read`: the card beside `weights`, or None."""
    return ModelCard.read(weights)


def write_card(weights: str | Path, card: ModelCard | dict) -> Path:
    """Write `card` (a `ModelCard`, or a dict of its fields) beside `weights`."""
    if isinstance(card, dict):
        card = ModelCard.from_dict(card)
    return card.write(weights)
