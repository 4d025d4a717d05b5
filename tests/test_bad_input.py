"""Bad input from the command line: one clear line and exit 2 (or a warning where the work can go
on), never a traceback. Run in this process (the commands' own `main`s) where no model is needed."""

from __future__ import annotations

import json
import logging
import math
import shutil
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from bot import batch, cli
from bot.pipeline import analyze_path
from bot.roster import RosterError, load_roster
from bot.sources import SourceError, VideoSource, read_image
from bot.store import Store, StoreError


def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip() and "\r" not in ln]
    assert "Traceback" not in err and len(lines) == 1, err
    return lines[0]


@pytest.fixture
def image(tmp_path) -> Path:
    p = tmp_path / "shot.png"
    cv2.imwrite(str(p), np.full((60, 80, 3), 128, np.uint8))
    return p


def test_alert_rules_naming_a_folder(tmp_path, capsys):
    assert cli.bot_main(["--alerts", str(tmp_path), "--duration", "1"]) == 2
    assert "a folder, not an alert rules file" in _one_line(capsys)


@pytest.mark.parametrize("content, expect", [
    ("path,class,teacher,date\na.mp4,3B,Ms Kim,2026-03-16,extra\n".encode(), "line 2: more fields than the header"),
    (b"\x00\x01\x02binary\xff" * 200, "a binary file, not text"),
    ("path,class\na.mp4,caf\xe9\n".encode("latin-1"), "not UTF-8 text"),
    (b"path,class,teacher,date\na.mp4,3B,Ms Kim,0001-01-01\n", "no lesson's date"),
    (b"", "an empty manifest"), (b"path,class,teacher,date\n", "an empty manifest"),
], ids=["extra-fields", "binary", "latin-1", "year-1", "empty", "header-only"])
def test_bad_manifests(tmp_path, capsys, content, expect):
    (tmp_path / "a.mp4").write_bytes(b"x")
    (tmp_path / "m.csv").write_bytes(content)
    assert batch.main([str(tmp_path / "a.mp4"), "--db", str(tmp_path / "b.db"), "--manifest", str(tmp_path / "m.csv")]) == 2
    assert expect in _one_line(capsys)


def test_a_utf16_manifest_is_read(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"x")
    (tmp_path / "m.csv").write_bytes("path,class,teacher,date\na.mp4,Français 3B,Mme Dubois,2026-03-16\n".encode("utf-16"))
    rows = batch.read_manifest(str(tmp_path / "m.csv"))
    assert rows[str((tmp_path / "a.mp4").resolve())]["class"] == "Français 3B"


@pytest.mark.parametrize("content, expect", [(b"\x00\x01\xfe" * 300, "a binary file"),
                                             ("a\xe9.mp4\n".encode("latin-1"), "not UTF-8 text")])
def test_bad_lists_of_recordings(tmp_path, capsys, content, expect):
    (tmp_path / "list.txt").write_bytes(content)
    assert batch.main([str(tmp_path / "list.txt"), "--db", str(tmp_path / "b.db")]) == 2
    assert expect in _one_line(capsys)


def test_a_scheduler_that_is_no_address(tmp_path, capsys):
    (tmp_path / "a.mp4").write_bytes(b"x")
    assert batch.main([str(tmp_path / "a.mp4"), "--db", str(tmp_path / "b.db"), "--scheduler", "nonsense"]) == 2
    assert "is not a scheduler's address" in _one_line(capsys)


def test_a_binary_roster_is_refused_not_read_as_names(tmp_path):
    p = tmp_path / "roster.csv"
    p.write_bytes(np.random.default_rng(0).bytes(30000))
    with pytest.raises(RosterError, match="not a roster: a binary file"):
        load_roster(p)
    p.write_bytes("Ana Pérez\nBen Novak\n".encode("cp1252"))  # an old spreadsheet's export still reads
    assert load_roster(p) == ["Ana Pérez", "Ben Novak"]


def _png_header_only(path: Path, w: int, h: int) -> Path:
    """A PNG whose header says w x h (its pixel data is a stub: only the header is read)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("side", [9000, 32000])
def test_an_oversized_picture_is_refused_before_decoding(tmp_path, side):
    p = _png_header_only(tmp_path / "huge.png", side, side)
    with pytest.raises(SourceError, match="over the limit of 50 megapixels"):
        read_image(p)


def test_json_into_a_missing_folder_is_refused_before_the_analysis(image, tmp_path, capsys):
    assert cli.analyze_main([str(image), "--json", str(tmp_path / "nope" / "out.json")]) == 2
    assert "no such folder" in _one_line(capsys)


@pytest.mark.parametrize("every", [0, -1, math.nan, math.inf])
def test_a_sampling_interval_that_is_no_interval_is_refused_for_images_too(image, every):
    with pytest.raises(SourceError, match="finite number of seconds above 0"):
        analyze_path(image, every=every)


def test_a_truncated_recording_says_so(tmp_path, caplog):
    full = tmp_path / "full.avi"
    w = cv2.VideoWriter(str(full), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 120))
    for i in range(200):
        w.write(np.full((120, 160, 3), i % 250, np.uint8))
    w.release()
    data = full.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    src = VideoSource(full, every=1)
    assert len(list(src)) == 20 and src.ended_early_at is None
    caplog.set_level(logging.WARNING, "classmood.sources")
    src = VideoSource(cut, every=1)
    got = list(src)
    assert 0 < len(got) < 20 and src.ended_early_at is not None
    assert any("truncated or damaged" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("url", ["postgres://u:SECRET@[::1:5432/db", "postgresql://u:pa/SECRET@db.school.org/classmood",
                                 "postgresql://u:p@SECRET@db.school.org/classmood",
                                 "postgresql://u:SECRET@db.school.org:99999/classmood"])
def test_a_database_url_that_cannot_be_read_is_never_printed(url, image, capsys):
    with pytest.raises(StoreError) as e:
        Store(url, timeout=1)
    assert "SECRET" not in str(e.value) and "cannot be read" in str(e.value)
    assert cli.analyze_main([str(image), "--db", url]) == 2
    line = _one_line(capsys)
    assert "SECRET" not in line and "cannot be read" in line


# -- model cards ---------------------------------------------------------------------------------
@pytest.fixture
def weights(random_model_path, tmp_path) -> Path:
    p = tmp_path / "m.keras"
    shutil.copy(random_model_path, p)
    return p


@pytest.mark.parametrize("card, expect", [
    ("null", "a model card is a JSON object, not null"), ("[]", "a model card is a JSON object, not list"),
    ('{"serving": {"views": "x"}}', "serving.views must be a whole number"),
    ('{"serving": "x"}', "serving must be a JSON object"),
    ('{"temperature": 0}', "temperature must be a finite number above 0"),
    ('{"temperature": NaN}', "temperature must be a finite number above 0"),
    ('{"temperature": -1}', "temperature must be a finite number above 0")])
def test_a_damaged_model_card_is_refused_at_load(weights, card, expect):
    from model import EmotionClassifier, ModelLoadError

    weights.with_suffix(".json").write_text(card)
    with pytest.raises(ModelLoadError, match=expect):
        EmotionClassifier.load(weights, backend="keras")


def test_a_missing_model_card_is_served_with_a_warning(weights, caplog):
    from model import EmotionClassifier

    weights.with_suffix(".json").unlink(missing_ok=True)  # the copy has no card beside it
    caplog.set_level(logging.WARNING)
    clf = EmotionClassifier.load(weights, backend="keras")
    probs = clf.predict(np.zeros((2, 48, 48), np.uint8))
    assert np.isfinite(probs).all()
    assert any("has no model card" in r.getMessage() and "without its calibration" in r.getMessage()
               for r in caplog.records)


def test_the_bundled_card_still_reads():
    from model.card import ModelCard
    from model.classifier import DEFAULT_WEIGHTS

    card = ModelCard.from_dict(json.loads(DEFAULT_WEIGHTS.with_suffix(".json").read_text()))
    assert card.views >= 1 and card.temperature > 0


def test_card_sections_are_typed_and_round_trip():
    """The bundled card reads into typed sections and writes back byte for byte; keys a section
    does not name survive (an older or newer card); a dict assigned to a section becomes one."""
    from model.card import Calibration, ModelCard, Serving
    from model.classifier import DEFAULT_WEIGHTS

    text = DEFAULT_WEIGHTS.with_suffix(".json").read_text()
    card = ModelCard.from_dict(json.loads(text))
    assert isinstance(card.serving, Serving) and isinstance(card.calibration, Calibration)
    assert card.serving.file.endswith(".tflite") and card.multiply_adds.per_face == card.multiply_adds.per_view
    assert card.input.contrast == card.contrast and card.data.val_size == card.val["n"]
    assert json.dumps(card.to_dict(), indent=2) + "\n" == text
    newer = ModelCard.from_dict({"serving": {"file": "x.tflite", "int4": True}, "calibration": {}})
    assert newer.serving.more == {"int4": True} and newer.to_dict()["serving"] == {"file": "x.tflite", "int4": True}
    assert not newer.calibration and "calibration" not in newer.to_dict()
    newer.serving = {"views": 4}
    assert isinstance(newer.serving, Serving) and newer.views == 4
    with pytest.raises(ValueError, match="multiply_adds must be a JSON object"):
        ModelCard.from_dict({"multiply_adds": [1]})
