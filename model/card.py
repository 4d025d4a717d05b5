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
class Section:
    """A part of a card that is a JSON object: the keys it names are typed fields (None: absent);
    keys it does not name stay in `more` and are written back after them (a card written by an
    older or newer version survives a round trip). Empty (falsy) when nothing is set."""

    more: dict[str, Any] = field(default_factory=dict, kw_only=True)

    @classmethod
    def from_dict(cls, d: "dict | Section | None", where: str = "") -> "Section":
        if isinstance(d, cls):
            return d
        if d is None:
            return cls()
        if not isinstance(d, dict):
            raise ValueError(f"{where or cls.__name__.lower()} must be a JSON object, not {d!r}")
        names = [f.name for f in dataclasses.fields(cls) if f.name != "more"]
        return cls(**{k: d[k] for k in names if k in d}, more={k: v for k, v in d.items() if k not in names})

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "more"}
        return {**{k: v for k, v in d.items() if v is not None}, **self.more}

    def __bool__(self) -> bool:
        return bool(self.to_dict())


@dataclass
class Input(Section):
    """What the network takes."""
    shape: list[int] | None = None
    dtype: str | None = None
    layout: str | None = None
    contrast: str | None = None   # the contrast step before the network (`model.contrast`)


@dataclass
class Data(Section):
    """What it was trained and selected on."""
    name: str | None = None
    train: str | None = None
    select: str | None = None
    file: str | None = None
    train_size: int | None = None
    val_size: int | None = None


@dataclass
class Serving(Section):
    """The LiteRT form the classifier serves (`python -m training.litert`) and its val figures."""
    format: str | None = None
    file: str | None = None
    sha256: str | None = None
    bytes: int | None = None
    converted_with: str | None = None
    views: int | None = None                    # test-time views served by default (1 when absent)
    view_names: list[str] | None = None
    val: dict[str, Any] | None = None           # FER2013 val, one view (a classification report)
    val_tta: dict[str, Any] | None = None       # the same, four views
    served: dict[str, Any] | None = None        # as served by default
    agreement_with_keras: float | None = None   # share of val faces given the .keras file's answer


@dataclass
class MultiplyAdds(Section):
    """Multiply-adds of the served network for one face."""
    per_view: int | None = None
    views: int | None = None
    per_face: int | None = None                 # all served views
    counted: str | None = None


@dataclass
class Calibration(Section):
    """How the temperature and the top-label map were fitted (`training.calibrate`), and what they
    did on the held-out half."""
    method: str | None = None
    bins: int | None = None
    seed: int | None = None
    fit_faces: int | None = None
    held_out_faces: int | None = None
    temperature_half: float | None = None
    held_out: dict[str, float] | None = None     # nll/ece before and after each step
    temperature: float | None = None
    held_out_ece_floor: dict[str, Any] | None = None


@dataclass
class SizeCalibration(Section):
    """The calibration of faces smaller than full size (`model.calibration.calibrate_by_size`):
    `bands`, one `{"side", "temperature", "top_label_map"}` a face side in pixels, each fitted on
    FER2013 val shrunk to that side and compressed there at the JPEG qualities `jpeg` (0: not) and
    the H.264 constant rate factors `h264` (absent on cards fitted before it), and what they did on
    the held-out half (`held_out`, a row a side) (`training.calibrate`);
    `sharpness`: `{"sides", "median"}`, the median sharpness of val faces shrunk to each side
    (`model.calibration.sharpness`), which tells how small a blurred face is as the model sees it."""
    method: str | None = None
    jpeg: list[int] | None = None
    h264: list[int] | None = None
    sharpness: dict[str, Any] | None = None
    seed: int | None = None
    fit_faces: int | None = None
    held_out_faces: int | None = None
    bands: list[dict[str, Any]] | None = None
    held_out: list[dict[str, Any]] | None = None


SECTIONS = {"input": Input, "data": Data, "serving": Serving, "multiply_adds": MultiplyAdds,
            "calibration": Calibration, "size_calibration": SizeCalibration}


@dataclass
class ModelCard:
    """What a weights file is and how it serves.

    `input.contrast`: the contrast step before the network (`model.contrast`); `serving`: the
    LiteRT form (`file`, `sha256`, `views`: the test-time views served by default, figures);
    `temperature`: divides the log-probabilities before the served softmax (1 = uncalibrated);
    `top_label_map`: after it, one (a, b, m) row a class remapping the top probability of faces
    whose top class it is (`model.calibration`; empty: none);
    `size_calibration`: the calibration of faces smaller than full size, by size band (empty: the
    full-size one for every face);
    `multiply_adds`: `per_view` and `per_face` (all served views) of the served network;
    `val`, `val_tta`: FER2013 val figures of the `.keras` file in one view and four (classification
    reports, `training.metrics`); `recipe`: the training run's settings, as the run named them.
    The sections `input`, `data`, `serving`, `multiply_adds`, `calibration` and `size_calibration` are typed
    (`Section`s: assigning a dict makes one)."""

    classes: list[str] = field(default_factory=lambda: list(EMOTIONS))
    name: str | None = None
    input: Input = field(default_factory=Input)
    preprocessing: str | None = None
    data: Data = field(default_factory=Data)
    recipe: dict[str, Any] = field(default_factory=dict)
    optimizer: str | None = None
    seed: int | None = None
    epochs: int | None = None
    best_epoch: int | None = None
    command: str | None = None
    val: dict[str, Any] = field(default_factory=dict)
    val_tta: dict[str, Any] = field(default_factory=dict)
    serving: Serving = field(default_factory=Serving)
    temperature: float = 1.0
    top_label_map: list[list[float]] = field(default_factory=list)
    calibration: Calibration = field(default_factory=Calibration)
    size_calibration: SizeCalibration = field(default_factory=SizeCalibration)
    multiply_adds: MultiplyAdds = field(default_factory=MultiplyAdds)
    date: str | None = None
    file: str | None = None
    sha256: str | None = None
    bytes: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __setattr__(self, name: str, value) -> None:
        if name in SECTIONS:  # a JSON object (or {}: none) becomes its typed section
            value = SECTIONS[name].from_dict(value, name)
        super().__setattr__(name, value)

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
                want = {"dict": dict, "list": list, **{s.__name__: dict for s in SECTIONS.values()}}.get(
                    str(f.type).split("[")[0])
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
        views = 1 if card.serving.views is None else card.serving.views
        if isinstance(views, bool) or not isinstance(views, int) or views < 1:
            raise ValueError(f"serving.views must be a whole number of at least 1, not {views!r}")
        try:
            card.top_label_map = [[float(v) for v in row] for row in card.top_label_map]
        except (TypeError, ValueError):
            raise ValueError("top_label_map must be an array of arrays of numbers") from None
        return card

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        d.update({name: d[name].to_dict() for name in SECTIONS})
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
    def size_bands(self) -> list[dict]:
        """The size calibration's bands as the card has them ([] without one)."""
        return list(self.size_calibration.bands or [])

    @property
    def contrast(self) -> str:
        return str(self.input.contrast or "none")

    @property
    def views(self) -> int:
        """How many test-time views serve by default (the LiteRT form's; 1 without one)."""
        return int(self.serving.views or 1)

    def figures(self, backend: str, views: int) -> dict:
        """Val figures for a backend ("litert"/"keras") and a number of views (1 or 4)."""
        if backend == "litert":
            found = self.serving.val if views == 1 else self.serving.val_tta
        else:
            found = self.val if views == 1 else self.val_tta
        return found or self.val or {}


def read_card(weights: str | Path) -> ModelCard | None:
    """`ModelCard.read`: the card beside `weights`, or None."""
    return ModelCard.read(weights)


def write_card(weights: str | Path, card: ModelCard | dict) -> Path:
    """Write `card` (a `ModelCard`, or a dict of its fields) beside `weights`."""
    if isinstance(card, dict):
        card = ModelCard.from_dict(card)
    return card.write(weights)
