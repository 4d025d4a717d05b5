"""Participant names from tile name strips with Debian's `tesseract-ocr` (optional: without it,
`read_names` returns None for every tile and participants stay `tile-<i>`).

Languages: `$CLASSMOOD_OCR_LANG` where set (Tesseract's codes, e.g. "kor+eng"), else every language
pack installed beside English, English last (e.g. with `tesseract-ocr-kor`: "kor+eng"). Each
language reads the strip on its own and the reading is kept to one script (`readings`): a name
never mixes Latin and Hangul. Figures below are from when the languages were read together. On two
real Zoom screenshots with Korean names (38 tiles), "kor+eng" read 21 names exactly, "eng+kor" 2
and "eng" none; on one with 16 Latin names, "kor+eng" and "eng" agreed on 15 tiles (on the
sixteenth both were wrong). With more than `MAX_AUTO_LANGS` other packs (e.g. `tesseract-ocr-all`)
each call would get slow, so English alone is used unless the variable says otherwise.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import subprocess
import unicodedata
from concurrent.futures import ThreadPoolExecutor

import numpy as np

log = logging.getLogger("classmood.ocr")
_CLEAN = re.compile(r"[^\w .'()\-]+", re.UNICODE)
# pronouns or a meeting role in parentheses at the end of a label, or their start where a small tile
# cut the label off: "(she/her)", "(they/them)", "(Host)", "(Co-host)", "(she/h"
_PRONOUNS = re.compile(r"\s*\(\s*(she|he|they|ze|xe|zie|ey|any|host|co-?host|guest|me)\b[^()]*(\)|$)\s*$",
                       re.IGNORECASE)
MAX_AUTO_LANGS = 3
_SYLLABIC = {"HANGUL", "CJK", "JAPANESE"}  # scripts where one character can be a whole name part
_NOT_LANGUAGES = {"eng", "osd", "equ"}  # English goes last; orientation and equation models are no language


def available() -> bool:
    return shutil.which("tesseract") is not None


@functools.lru_cache(maxsize=1)
def installed_langs() -> tuple[str, ...]:
    """Tesseract's installed language packs (`tesseract --list-langs`); () where it cannot run."""
    try:
        out = subprocess.run(["tesseract", "--list-langs"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return ()
    lines = (out.stdout + "\n" + out.stderr).splitlines()
    return tuple(ln.strip() for ln in lines if re.fullmatch(r"[A-Za-z_]+(/[A-Za-z_]+)?", ln.strip()))


def default_lang() -> str:
    """`$CLASSMOOD_OCR_LANG`, else the installed language packs with English last (see above)."""
    env = os.environ.get("CLASSMOOD_OCR_LANG", "").strip()
    if env:
        return env
    langs = installed_langs()
    others = [lang for lang in langs if lang not in _NOT_LANGUAGES and "/" not in lang]
    if len(others) > MAX_AUTO_LANGS:
        log.info("%d Tesseract language packs installed: reading names in English only; set "
                 "CLASSMOOD_OCR_LANG (e.g. kor+eng) to choose", len(others))
        others = []
    return "+".join(others + (["eng"] if "eng" in langs or not others else []))


def name_strips(frame: np.ndarray, box, camera_off: bool = False) -> list[np.ndarray]:
    """The tile's bottom-left name label (or, on a camera-off tile, the centred name), prepared
    for OCR: grey, upscaled, inverted to dark text on light; one image for each place the label box
    may be (`_label_boxes`). Meeting apps draw the label as light text on a dark box: the crop keeps
    the dark run of columns from the left edge, so the video beside the label does not reach the OCR."""
    import cv2

    x, y, w, h = box
    if camera_off:
        roi = frame[y + int(0.35 * h): y + int(0.65 * h), x + int(0.05 * w): x + int(0.95 * w)]
    else:
        roi = frame[y + int(0.85 * h): y + h - max(1, h // 100), x: x + int(0.75 * w)]
    blank = [np.full((8, 8), 255, np.uint8)]
    if roi.size == 0:
        return blank
    gray = cv2.cvtColor(roi, cv2.COLOR_BGR2GRAY) if roi.ndim == 3 else roi
    crops = [gray] if camera_off else _label_boxes(gray)
    out = []
    for crop in crops:
        if crop.size == 0 or crop.shape[1] < 4:
            continue
        scale = max(2.0, 48.0 / crop.shape[0])  # tesseract reads best with text ~30 px high
        big = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        inv = cv2.normalize(255 - big, None, 0, 255, cv2.NORM_MINMAX)  # dark text on light
        out.append(cv2.copyMakeBorder(inv, 12, 12, 12, 12, cv2.BORDER_REPLICATE))
    return out or blank


def _label_boxes(gray: np.ndarray) -> list[np.ndarray]:
    """Where the dark label box starting at the strip's left edge may be (text holes closed): dark
    as below grey 100, and dark as below 0.6 of the video around it (the box darkens what is behind
    it, so over a dark video the first finds the whole strip); each distinct box narrower than the
    strip, else the strip itself. Both are read where they differ: neither rule wins everywhere."""
    import cv2

    k = max(3, gray.shape[0] // 4)
    out: list[tuple[int, int, int, int]] = []
    for thr in (100.0, min(100.0, 0.6 * float(np.percentile(gray, 75)))):
        dark = cv2.morphologyEx((gray < thr).astype(np.uint8), cv2.MORPH_CLOSE, np.ones((k, k), np.uint8))
        n, _, stats, _ = cv2.connectedComponentsWithStats(dark, connectivity=4)
        best = None
        for x, y, w, h, area in stats[1:]:
            if x <= 0.1 * gray.shape[1] and h >= 0.3 * gray.shape[0] and w >= 1.2 * h and (best is None or area > best[4]):
                best = (x, y, w, h, area)
        if best is not None and best[2] < 0.9 * gray.shape[1] and tuple(best[:4]) not in out:
            out.append(tuple(int(v) for v in best[:4]))
    return [gray[y:y + h, x:x + w] for x, y, w, h in out] or [gray]


# Tesseract's OpenMP threads on a one-line strip cost more than they give (measured: 233 ms a call
# with its default threads, 155 ms with one, on 2 cores); the caller's own setting wins.
_TESSERACT_ENV = {**os.environ, "OMP_THREAD_LIMIT": os.environ.get("OMP_THREAD_LIMIT", "1")}


def clean_name(text: str) -> str | None:
    """The name in an OCR reading of a label: icons read as stray characters at either end dropped,
    and pronouns ("(she/her)") or a meeting role ("(Host)") in parentheses at the end, which some
    labels carry and small tiles cut off; other parts in parentheses (a class's own tags, "(초급)")
    stay. An initial ("Chloe R.") is kept: two Chloes are two people. None where fewer than two
    letters are left."""
    base = _PRONOUNS.sub("", text)
    tokens = _CLEAN.sub(" ", base if len(re.sub(r"\W", "", base)) >= 2 else text).split()

    def stray(tok: str) -> bool:  # icons (microphone, video) read as stray 1-character tokens at either end
        letters = re.sub(r"\W", "", tok)
        return len(letters) <= 1 and not (letters and script_of(letters) in _SYLLABIC)

    def initial(tok: str) -> bool:  # "R." after a first name: a capital and its full stop
        return re.fullmatch(r"[A-Z]\.", tok) is not None

    # at the end, a lone syllable after a whole word is an icon too (a family name comes first)
    while tokens and not (len(tokens) > 1 and initial(tokens[-1])) and (
            stray(tokens[-1]) or (len(tokens) > 1 and len(re.sub(r"\W", "", tokens[-1])) == 1
                                  and len(re.sub(r"\W", "", tokens[-2])) >= 2)):
        tokens.pop()
    while tokens and stray(tokens[0]) and not (len(tokens) > 1 and initial(tokens[0])):
        tokens.pop(0)
    text = " ".join(tokens).strip(" -'" if tokens and initial(tokens[-1]) else " .-'")
    if len(re.sub(r"\W", "", text)) < 2:
        return None
    return text[:60]


def script_of(ch: str) -> str | None:
    """The writing system of a letter ("LATIN", "HANGUL", "CJK", "CYRILLIC", ...); None for digits,
    punctuation and spaces, which belong to every script."""
    if not ch.isalpha():
        return None
    try:
        word = unicodedata.name(ch).split()[0]
    except ValueError:
        return None
    return {"HIRAGANA": "JAPANESE", "KATAKANA": "JAPANESE"}.get(word, word)


def one_script(text: str) -> tuple[str, float]:
    """`text` kept to its main script (words of other scripts, and stray letters of other scripts
    inside a word, dropped) and the share of its letters that script held."""
    letters = [script_of(c) for c in text]
    counts: dict[str, int] = {}
    for sc in letters:
        if sc:
            counts[sc] = counts.get(sc, 0) + 1
    if not counts:
        return text, 1.0
    main = max(counts, key=counts.get)
    kept = " ".join("".join(c for c, sc in zip(text, letters) if sc in (None, main)).split())
    if main in _SYLLABIC:  # a Korean name is written without spaces; the model splits its syllables
        kept = re.sub(r"(?<=[\uac00-\ud7af]) (?=[\uac00-\ud7af])", "", kept)
    return kept, counts[main] / sum(counts.values())


def ocr_words(img: np.ndarray, lang: str = "eng", timeout: float = 10.0, psm: int = 7) -> list[tuple[str, float]]:
    """(word, confidence 0-100) for each word Tesseract reads on a one-line strip (`psm` 7: a text
    line; 13: a raw line, without Tesseract's own layout analysis)."""
    import cv2

    ok, png = cv2.imencode(".png", img)
    if not ok:
        return []
    try:
        out = subprocess.run(["tesseract", "stdin", "stdout", "--psm", str(psm), "-l", lang, "tsv"],
                             input=png.tobytes(), capture_output=True, timeout=timeout, env=_TESSERACT_ENV)
    except (OSError, subprocess.TimeoutExpired) as e:
        log.warning("tesseract failed: %s", e)
        return []
    boxes = []
    for line in out.stdout.decode("utf-8", "replace").splitlines()[1:]:
        cells = line.split("\t")
        if len(cells) >= 12 and cells[11].strip():
            try:
                left, width, height, conf = int(cells[6]), int(cells[7]), int(cells[9]), float(cells[10])
            except ValueError:
                continue
            if conf >= 0:
                boxes.append([cells[11].strip(), conf, left, left + width, height])
    # Tesseract's Korean model makes each syllable a word: words closer than a third of the text's
    # height are one word (the gap between two words of a name is wider)
    words: list[list] = []
    for b in sorted(boxes, key=lambda b: b[2]):
        if words and b[2] - words[-1][3] < 0.35 * max(b[4], words[-1][4]):
            w = words[-1]
            n0, n1 = len(w[0]), len(b[0])
            w[0], w[1] = w[0] + b[0], (w[1] * n0 + b[1] * n1) / (n0 + n1)
            w[3], w[4] = b[3], max(w[4], b[4])
        else:
            words.append(list(b))
    return [(w[0], w[1]) for w in words]


def readings(img: np.ndarray | list[np.ndarray], langs: list[str]) -> list[tuple[str, float]]:
    """A reading of the strip (or of each candidate crop of it) with each language on its own, each
    kept to one script: (name, score), best first; score = mean word confidence x the share of
    letters in the name's script. Reading "kor" and "eng" apart, rather than "kor+eng" together,
    is what keeps Hangul out of a Latin name and the other way round."""
    if isinstance(img, list):
        return sorted((r for im in img for r in readings(im, langs)), key=rank)
    out = []
    for lang in langs:
        # as a text line; where that finds nothing (it misses some short names outright), as a raw line
        words = ocr_words(img, lang) or ocr_words(img, lang, psm=13)
        if not words:
            continue
        text, pure = one_script(" ".join(w for w, _ in words))
        name = clean_name(text)
        if name:
            weights = [len(w) for w, _ in words]
            conf = sum(c * n for (_, c), n in zip(words, weights)) / max(sum(weights), 1)
            out.append((name, round(conf * pure, 1)))
    return sorted(out, key=rank)


def has_letters(text: str) -> bool:
    """Whether `text` holds a letter of some script (a name), not only digits and punctuation."""
    return any(script_of(c) for c in text)


def rank(reading: tuple[str, float]) -> tuple[bool, float]:
    """The sort key of readings, best first: a reading with letters before any of digits alone,
    then by score. Like is compared with like: a model for another script reads a Latin name as
    digits, sure of them ("Ana Perez" -> "408 6162" at 61.6 with `kor`, "Ana Perez" at 57.1 with
    `eng`), and digits count as every script, so their score alone would win. A label of digits
    alone (a dial-in caller's phone number) is still read where no reading has letters."""
    return (not has_letters(reading[0]), -reading[1])


def read_names(frame: np.ndarray, tiles, lang: str | None = None, roster=None) -> list[str | None]:
    """A name per tile (None where nothing legible, or without Tesseract). The strip is read with
    each language of `lang` (Tesseract's codes, "kor+eng"; default `default_lang()`) on its own and
    the reading in one script that Tesseract is surest of is kept. With a `roster` (`bot.roster.Roster`),
    each tile gets the roster name its readings fit best, or None below the roster's threshold."""
    if not available():
        return [None] * len(tiles)
    langs = [x for x in (lang or default_lang()).split("+") if x]

    def one(t) -> list[tuple[str, float]]:
        box, off = (t["box"], t.get("camera_off", False) and not t.get("picture", False)) if isinstance(t, dict) \
            else (t.box, t.camera_off and not getattr(t, "picture", False))
        # a camera-off tile shows the name large in its centre: read that first (unless a profile
        # picture is there instead: its name is bottom-left, as on video)
        got = readings(name_strips(frame, box, True), langs) if off else []
        return got or readings(name_strips(frame, box, False), langs)

    with ThreadPoolExecutor(max_workers=ocr_workers()) as pool:
        found = list(pool.map(one, tiles))
    if roster is None:
        return [r[0][0] if r else None for r in found]
    # each tile's reading that fits some roster name best, then one roster name a tile
    best = [max(r, key=lambda x: max(roster.score(x[0]), default=0.0))[0] if r else None for r in found]
    return roster.match(best)


def ocr_workers() -> int:
    """Tesseract processes run at once: `$CLASSMOOD_OCR_WORKERS` (classmood-batch sets it to its
    threads per worker), else 2."""
    try:
        return max(1, int(os.environ.get("CLASSMOOD_OCR_WORKERS", "2")))
    except ValueError:
        return 2
