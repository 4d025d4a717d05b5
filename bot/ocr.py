"""Participant names from tile name labels: Latin labels with PP-OCR (rapidocr's PP-OCRv6 text
detector and recogniser on onnxruntime, its models in the rapidocr wheel), every script with
Debian's `tesseract-ocr` and its language packs. With neither, `read_names` returns None for every
tile and participants stay `tile-<i>`.

Where: the band where a tile's name is (`_label_band`): bottom left on video, the middle of a
camera-off panel. PP-OCR finds the text lines in it (`pp_label_lines`; lowest first on video, from
the tile's left fifth); for Tesseract the label's text line is found by its light, thin strokes
(`label_lines`: white on Zoom's dark label box, or straight on the video with a shadow as Meet and
Teams draw it), and the dark label box (`_label_boxes`) is read too.

Which reader: PP-OCR for Latin labels, Tesseract's other language packs for other scripts, both on
every label, voted. A PP-OCR reading counts only when every letter is Latin (PP-OCRv6 was not
trained on Hangul and reads it as Chinese) and only at `PP_NAME_CONF`. Tesseract's English reads
only where PP-OCR does not run: `$CLASSMOOD_OCR_ENGINE=tesseract`, or rapidocr missing.

What counts as a name (`reading`, `is_name`): unsure words at either end are dropped (icons, the
video beside the label), loose Hangul letters are dropped, the words with letters must be read at
`NAME_CONF` or surer, and digits alone, single letters, two small Latin letters and the buttons and
toolbar words of meeting apps (`NOT_NAMES`) never become a name. Several readings of one label
(crops, languages, and the frames of a layout: `bot.tracker` passes up to three) are voted
(`vote`): a name read alike more often wins, not the first or the surest single reading.

Languages (Tesseract): `$CLASSMOOD_OCR_LANG` where set (Tesseract's codes, e.g. "kor+eng"), else
every language pack installed beside English, English last (e.g. with `tesseract-ocr-kor`:
"kor+eng"); PP-OCR reads where "eng" is among them. Each language reads the strip on its own and
each reading is kept to one script (`one_script`): a name never mixes Latin and Hangul. Measured on
13 real screenshots (73 legible names, 41 tiles without one; `tests/test_names.py`): 61 of 63 Latin
names and 67 of 73 in all exact, none in the wrong script, no name on a tile without one (Tesseract
alone: 47 and 53; before that 33 and 38, with 7 in the wrong script and 26 made up). With more than
`MAX_AUTO_LANGS` other packs (e.g. `tesseract-ocr-all`) each call would get slow, so English alone
is used unless the variable says otherwise.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import subprocess
import threading
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

log = logging.getLogger("classmood.ocr")
_CLEAN = re.compile(r"[^\w .,'()@&+#\-]+", re.UNICODE)
# pronouns or a meeting role in parentheses at the end of a label, or their start where a small tile
# cut the label off: "(she/her)", "(they/them)", "(Host)", "(Co-host)", "(she/h"
_PRONOUNS = re.compile(r"\s*\(\s*(she|he|they|ze|xe|zie|ey|any|host|co-?host|guest|me)\b[^()]*(\)|$)\s*$",
                       re.IGNORECASE)
MAX_AUTO_LANGS = 3
_SYLLABIC = {"HANGUL", "CJK", "JAPANESE"}  # scripts where one character can be a whole name part
_NOT_LANGUAGES = {"eng", "osd", "equ"}  # English goes last; orientation and equation models are no language


def available() -> bool:
    """Whether names can be read at all: PP-OCR (Latin labels) or Tesseract (every installed script)."""
    return tesseract_installed() or _ppocr() is not None


def tesseract_installed() -> bool:
    return shutil.which("tesseract") is not None


def engine() -> str:
    """What reads Latin labels: "ppocr" (rapidocr's PP-OCRv6, the default wherever it is installed)
    or "tesseract" (`$CLASSMOOD_OCR_ENGINE=tesseract`, or rapidocr missing). Other scripts are
    always Tesseract's, with its language packs."""
    return "ppocr" if _ppocr() is not None else "tesseract"


def _ppocr():
    """The PP-OCR engine, or None where `$CLASSMOOD_OCR_ENGINE` is "tesseract" or it cannot start."""
    if os.environ.get("CLASSMOOD_OCR_ENGINE", "").strip().lower() == "tesseract":
        return None
    return _ppocr_engine()


PP_MODELS = ("PP-OCRv6_det_small.onnx", "PP-OCRv6_rec_small.onnx")  # in rapidocr's wheel
PP_BAND_HEIGHT = 96  # the label's band is scaled to this height for the detector: its text comes to
# about 30 px, where PP-OCR's detector finds Zoom's 7 px labels (at its default 736, a 60 px band
# grows 12-fold: 30x slower, and it splits and misses more)
_PP_LOCK = threading.Lock()  # one engine, one reading at a time (it keeps per-call settings)


@functools.lru_cache(maxsize=1)
def _ppocr_engine():
    """rapidocr's PP-OCRv6 text detector and recogniser (Apache-2.0), given the model files its wheel
    ships by path, so that it never looks for a download; no angle classifier (a label is upright).
    None, said once in the log, where rapidocr or onnxruntime is not installed or a model file is
    missing: Tesseract then reads every script."""
    try:
        import rapidocr
        from rapidocr import RapidOCR
    except ImportError as e:
        log.warning("PP-OCR (rapidocr, onnxruntime) not installed (%s): names read with Tesseract only", e)
        return None
    models = Path(rapidocr.__file__).parent / "models"
    det, rec = (models / name for name in PP_MODELS)
    missing = [str(p) for p in (det, rec) if not p.is_file()]
    if missing:
        log.warning("PP-OCR's model files are missing (%s): names read with Tesseract only", ", ".join(missing))
        return None
    params = {"Global.use_cls": False, "Global.log_level": "error",
              "Det.model_path": str(det), "Rec.model_path": str(rec),
              "Det.limit_side_len": PP_BAND_HEIGHT, "Det.limit_type": "min",
              # one thread a call: the name reader's workers (`ocr_workers`) run beside the frame loop
              "EngineConfig.onnxruntime.intra_op_num_threads": 1,
              "EngineConfig.onnxruntime.inter_op_num_threads": 1}
    try:
        return RapidOCR(params=params)
    except Exception as e:  # noqa: BLE001  a broken install reads with Tesseract, never stops the bot
        log.warning("PP-OCR could not start (%s): names read with Tesseract only", e)
        return None


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
    """The tile's name label prepared for OCR (grey, dark text on light, text about 36 px high): the
    text lines found where the label is (`label_lines`: bottom left on video, the centre on a
    camera-off panel), then the older crops of the dark label box (`_label_boxes`) as a fallback
    where the text sits on a plain box the line finder misses."""
    import cv2

    out = label_lines(frame, box, camera_off)
    x, y, w, h = (int(v) for v in box)
    if camera_off:
        roi = frame[y + int(0.35 * h): y + int(0.65 * h), x + int(0.05 * w): x + int(0.95 * w)]
    else:
        roi = frame[y + int(0.85 * h): y + h - max(1, h // 100), x: x + int(0.75 * w)]
    if roi.size:
        gray = cv2.cvtColor(roi, cv2.COLOR_BGR2GRAY) if roi.ndim == 3 else roi
        for crop in ([gray] if camera_off else _label_boxes(gray)):
            if crop.size and crop.shape[1] >= 4:
                out.append(_for_ocr(crop, max(2.0, 48.0 / crop.shape[0])))
    return out or [np.full((8, 8), 255, np.uint8)]


def _for_ocr(crop: np.ndarray, scale: float) -> np.ndarray:
    """A grey crop upscaled (Tesseract reads best with text about 30-40 px high), inverted to dark
    text on light, stretched to full contrast, with a margin."""
    import cv2

    big = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    inv = cv2.normalize(255 - big, None, 0, 255, cv2.NORM_MINMAX)
    return cv2.copyMakeBorder(inv, 12, 12, 12, 12, cv2.BORDER_REPLICATE)


def label_lines(frame: np.ndarray, box, camera_off: bool = False, most: int = 2) -> list[np.ndarray]:
    """Light text lines where a tile's name is, each cropped and prepared for OCR (`_for_ocr`):
    text is what a white top-hat keeps (thin strokes lighter than around them: white on Zoom's dark
    label box, and white with a shadow straight on the video as Meet and Teams draw it), joined
    along the line. On video, the lines that start near the tile's left edge in its bottom quarter
    (a little below the tile too: a tile found a few pixels short), lowest first; on a camera-off
    panel, the widest lines in its middle."""
    import cv2

    w, h = int(box[2]), int(box[3])
    roi = _label_band(frame, box, camera_off)
    if roi.size == 0 or min(roi.shape[:2]) < 6:
        return []
    g = cv2.cvtColor(roi, cv2.COLOR_BGR2GRAY) if roi.ndim == 3 else roi
    k = max(5, min(15, h // 25)) | 1
    hat = cv2.morphologyEx(g, cv2.MORPH_TOPHAT, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    strokes = hat > max(40.0, float(np.percentile(hat, 90)))
    text = (strokes & (g > 160)).astype(np.uint8)  # light strokes: where a line is
    join = max(3, h // 30)
    lines = cv2.morphologyEx(text, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (2 * join, 1)))
    n, _, stats, _ = cv2.connectedComponentsWithStats(lines, connectivity=8)
    found = []
    for cx, cy, cw, ch, _area in stats[1:]:
        if ch < 5 or ch > max(12, 0.2 * h) or cw < 1.5 * ch or (not camera_off and cx > 0.2 * w):
            continue
        if 0.08 <= text[cy:cy + ch, cx:cx + cw].mean() <= 0.7:
            found.append((int(cx), int(cy), int(cw), int(ch)))
    found.sort(key=(lambda c: -c[2]) if camera_off else (lambda c: -(c[1] + c[3])))
    out = []
    for cx, cy, cw, ch in found[:most]:
        pad = max(3, ch // 2)
        # the line goes on where strokes of any lightness go on along it (small anti-aliased text,
        # an ellipsis): its end is the last stroke column before a gap as wide as the line is
        # high, and at most three heights further (beyond, it is the video's texture)
        cols = np.flatnonzero(strokes[cy:cy + ch, cx + cw: cx + cw + 3 * ch].any(axis=0))
        end = cx + cw
        for c in cols + cx + cw:
            if c - end > ch:
                break
            end = c + 1
        # a quarter of the line's height before the first stroke: further left is the label box's
        # edge, which Tesseract reads as a bar glued to the first letter ("|Ana", sure of it at 4%);
        # closer, it misses the thin bracket that opens "(초급)"
        crop = g[max(0, cy - pad): cy + ch + pad, max(0, cx - max(2, ch // 4)): end + 2 * pad]
        out.append(_for_ocr(crop, 36.0 / (ch + 2)))
    return out


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


def _label_band(frame: np.ndarray, box, camera_off: bool) -> np.ndarray:
    """Where a tile's name is: its bottom quarter, left four fifths, and a little below the tile (a tile
    found a few pixels short); on a camera-off panel its middle."""
    hh, ww = frame.shape[:2]
    x, y, w, h = (int(v) for v in box)
    if camera_off:
        y0, y1, x0, x1 = y + int(0.3 * h), y + int(0.7 * h), x + int(0.03 * w), x + int(0.97 * w)
    else:
        y0, y1, x0, x1 = y + int(0.75 * h), min(hh, y + h + max(2, h // 40)), x, x + int(0.8 * w)
    return frame[max(0, y0):y1, max(0, x0):min(ww, x1)]


def pp_label_lines(frame: np.ndarray, box, camera_off: bool = False, most: int = 2) -> list[list[tuple[str, float]]]:
    """The text lines PP-OCR finds where a tile's name is (`_label_band`), as (word, confidence 0-100)
    lists in the order a name is looked for: on video, the lines that start in the tile's left fifth,
    lowest first; on a camera-off panel, the widest first. Boxes whose middles lie within half a
    line's height are one line; a wide gap parts the label from an icon or the video (`_label_run`)."""
    eng = _ppocr()
    band = _label_band(frame, box, camera_off)
    if eng is None or band.size == 0 or min(band.shape[:2]) < 6:
        return []
    with _PP_LOCK:
        try:
            res = eng(np.ascontiguousarray(band))
        except Exception as e:  # noqa: BLE001  one label's failure never ends a frame
            log.warning("PP-OCR failed on a name label: %s", e)
            return []
    boxes, txts, scores = getattr(res, "boxes", None), getattr(res, "txts", None), getattr(res, "scores", None)
    if boxes is None or not txts:
        return []
    lines: list[dict] = []
    for quad, text, score in sorted(zip(boxes, txts, scores), key=lambda b: float(np.mean(np.asarray(b[0])[:, 1]))):
        q = np.asarray(quad, float)
        left, right, top, bottom = q[:, 0].min(), q[:, 0].max(), q[:, 1].min(), q[:, 1].max()
        if not camera_off and top <= 1:
            continue  # cut by the band's top: text of the video or a window over it, not a label below
        item = [str(text).strip(), 100.0 * float(score), left, right, bottom - top]
        mid = (top + bottom) / 2
        if lines and abs(mid - lines[-1]["mid"]) <= 0.5 * max(item[4], lines[-1]["height"]):
            line = lines[-1]
            line["items"].append(item)
            line["bottom"], line["height"] = max(line["bottom"], bottom), max(line["height"], item[4])
        else:
            lines.append({"mid": mid, "bottom": bottom, "height": item[4], "items": [item]})
    w = int(box[2])
    for line in lines:
        line["items"].sort(key=lambda i: i[2])
        line["left"] = line["items"][0][2]
        line["width"] = line["items"][-1][3] - line["left"]
    if camera_off:
        lines.sort(key=lambda ln: -ln["width"])
    else:
        lines = sorted((ln for ln in lines if ln["left"] <= 0.2 * w), key=lambda ln: -ln["bottom"])
    out = []
    for line in lines[:most]:
        words = [(tok, conf) for text, conf in _label_run([i for i in line["items"] if i[0]]) for tok in text.split()]
        if words:
            out.append(words)
    return out


def _latin(name: str) -> bool:
    """A name whose letters are all Latin (digits and signs belong to every script)."""
    return {script_of(c) for c in name} - {None} == {"LATIN"}


def pp_reading(frame: np.ndarray, box, camera_off: bool = False, least: float | None = None) -> tuple[str, float] | None:
    """The Latin name PP-OCR reads on a tile (`pp_label_lines`, each line judged by `reading` as
    Tesseract's are), or None. A reading with a letter of another script is no reading: PP-OCRv6
    was not trained on Hangul and reads it as Chinese ("김" as "召"), so Tesseract's packs read
    those labels. A camera-off panel is read in its middle first, then where a picture's name is."""
    for where in ((True, False) if camera_off else (False,)):
        for words in pp_label_lines(frame, box, where):
            got = reading(words, PP_NAME_CONF if least is None else least)
            if got and _latin(got[0]):
                return got
    return None


# Tesseract's OpenMP threads on a one-line strip cost more than they give (measured: 233 ms a call
# with its default threads, 155 ms with one, on 2 cores); the caller's own setting wins.
_TESSERACT_ENV = {**os.environ, "OMP_THREAD_LIMIT": os.environ.get("OMP_THREAD_LIMIT", "1")}


def clean_name(text: str) -> str | None:
    """The name in an OCR reading of a label: icons read as stray characters at either end dropped,
    and pronouns ("(she/her)") or a meeting role ("(Host)") in parentheses at the end, which some
    labels carry and small tiles cut off; other parts in parentheses (a class's own tags, "(초급)")
    stay. An initial ("Chloe R.") is kept: two Chloes are two people. None where fewer than two
    letters are left."""
    text = text.strip()
    cut = bool(re.search(r"(\.\.\.|\u2026)$", text))  # the app shortened a long label: its last letter is text
    text = re.sub(r"\s*(\.\.\.|\u2026)$", "", text)
    base = _PRONOUNS.sub("", text)
    tokens = _CLEAN.sub(" ", base if len(re.sub(r"\W", "", base)) >= 2 else text).split()

    def stray(tok: str) -> bool:  # icons (microphone, video) read as stray 1-character tokens at either end
        letters = re.sub(r"\W", "", tok)
        return len(letters) <= 1 and not (letters and script_of(letters) in _SYLLABIC)

    def initial(tok: str) -> bool:  # "R." after a first name: a capital and its full stop
        return re.fullmatch(r"[A-Z]\.", tok) is not None

    # at the end, a lone syllable after a whole word is an icon too (a family name comes first)
    while tokens and not cut and not (len(tokens) > 1 and initial(tokens[-1])) and (
            stray(tokens[-1]) or (len(tokens) > 1 and len(re.sub(r"\W", "", tokens[-1])) == 1
                                  and len(re.sub(r"\W", "", tokens[-2])) >= 2)):
        tokens.pop()
    while tokens and stray(tokens[0]) and not (len(tokens) > 1 and initial(tokens[0])):
        tokens.pop(0)
    text = " ".join(tokens).strip(" ,-'" if tokens and initial(tokens[-1]) else " .,-'")
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


def _syllabic(word: str) -> bool:
    """A word whose letters are all of a script written in syllable blocks (Hangul, CJK, kana)."""
    scripts = {script_of(c) for c in word} - {None}
    return bool(scripts) and scripts <= _SYLLABIC


def _joins(a: str, b: str) -> bool:
    """Two close pieces Tesseract read apart are one word: syllables of Hangul or CJK, or such a
    syllable and the brackets or digits beside it ("(초급)", "김선경(20200756)")."""
    def bare(w: str) -> bool:
        return not any(script_of(c) for c in w)
    return (_syllabic(a) or bare(a)) and (_syllabic(b) or bare(b)) and (_syllabic(a) or _syllabic(b))


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
                left, width, height, conf = int(cells[6]), int(cells[8]), int(cells[9]), float(cells[10])
            except ValueError:
                continue
            if conf >= 0:
                boxes.append([cells[11].strip(), conf, left, left + width, height])
    # Tesseract's Korean model makes each syllable a word: syllables closer than a third of the
    # text's height are one word (the gap between two words of a name is wider)
    words: list[list] = []
    for b in sorted(boxes, key=lambda b: b[2]):
        if words and b[2] - words[-1][3] < 0.35 * max(b[4], words[-1][4]) and _joins(words[-1][0], b[0]):
            w = words[-1]
            n0, n1 = len(w[0]), len(b[0])
            w[0], w[1] = w[0] + b[0], (w[1] * n0 + b[1] * n1) / (n0 + n1)
            w[3], w[4] = b[3], max(w[4], b[4])
        else:
            words.append(list(b))
    return _label_run(words)


def _label_run(words: list[list]) -> list[tuple[str, float]]:
    """Of the words read along a line ([text, confidence, left, right, height], left to right), the
    label: a gap wider than twice the text's height parts it from what is beside it (an icon, the
    video read as letters), and the run of words with the most letters is the label."""
    runs: list[list] = []
    for w in words:
        if runs and w[2] - runs[-1][-1][3] <= 2.0 * max(w[4], runs[-1][-1][4]):
            runs[-1].append(w)
        else:
            runs.append([w])
    best = max(runs, key=lambda r: sum(1 for w in r for c in w[0] if c.isalnum()), default=[])
    return [(w[0], w[1]) for w in best]


NAME_CONF = 60.0   # a name's words with letters average at least this confidence (0-100) ...
NAME_CONF_SYLLABIC = 55.0  # ... or this in Hangul or CJK, which Tesseract reads less surely
ROSTER_CONF = 30.0  # with a roster, less sure readings count too: the roster's own match decides
PP_NAME_CONF = 85.0  # PP-OCR's confidence is the mean of its letters' probabilities: its names of
# real labels read 93-100, its misreadings of the video and of windows over it 54-82
EDGE_CONF = 55.0   # words below this at either end of a reading are icons or the video, not the name
_JAMO = re.compile("[\u1100-\u11ff\u3130-\u318f]")  # loose Hangul letters: never in a written name
# what meeting apps write on and around tiles that is no name (their buttons, toolbars, badges)
NOT_NAMES = frozenset("""
stop start mute unmute video audio share record recording rec chat leave end end meeting participants
reactions react apps more security view gallery speaker host co-host guest you (you) me raise hand
pin spotlight join live captions whiteboard whiteboards breakout rooms present presenting now
stop video start video stop share share screen new share pause resume waiting room
""".split()) | {"stop video", "start video", "share screen", "raise hand", "end meeting", "breakout rooms",
                "gallery view", "speaker view", "waiting room", "stop share", "new share"}


def is_name(text: str) -> bool:
    """Whether a cleaned reading can be a person's name: two letters or more (a single letter is an
    icon or an avatar's initial), no loose Hangul letters (a Korean model's reading of Latin text),
    not a button or toolbar word of a meeting app, not digits alone."""
    letters = [c for c in text if script_of(c)]
    if len(letters) < 2 or _JAMO.search(text):  # (`reading` drops loose letters first)
        return False
    if len(letters) == 2 and script_of(letters[0]) == "LATIN" and not letters[0].isupper():
        return False  # two small Latin letters ("ae", "ee") are specks of the video; "Li" is a name
    words = re.sub(r"[^\w\s-]", " ", text).lower().split()
    if " ".join(words) in NOT_NAMES or (words and all(w in NOT_NAMES for w in words)):
        return False
    return any(len(re.sub(r"\d", "", w)) >= 2 for w in words)


def reading(words: list[tuple[str, float]], least: float | None = None) -> tuple[str, float] | None:
    """The name in one OCR reading of a label (`ocr_words`), and its score, or None where it holds
    none: unsure words at either end dropped (icons, the video beside the label), kept to one script
    (`one_script`), cleaned (`clean_name`), a name (`is_name`), and its words with letters read at
    `NAME_CONF` or surer (`least` where given: a roster checks names itself). Score: their confidence (weighted by letters) x the share of letters in
    the name's script. Digits (a student number) stay in a name but count for no script: a model
    for another script reads a Latin name as digits, sure of them."""
    # a loose Hangul letter is a box's edge or a speck read by the Korean model: never a name's
    words = [(w2, c) for w2, c in ((_JAMO.sub("", w), c) for w, c in words) if w2]
    edge_conf = EDGE_CONF if least is None else min(EDGE_CONF, least)

    def edge(word: tuple[str, float]) -> bool:  # unsure, or a lone character (an icon, a speck), but
        # not the last letter of a label the app shortened ("Manton, @manton, A...")
        bare = re.sub(r"\W", "", word[0])
        if len(set(bare.lower())) == 1 and len(bare) >= 3:
            return True  # one letter repeated ("eee", "ooo"): Meet's dots, a level meter
        return word[1] < edge_conf or (len(bare) <= 1 and not re.fullmatch(r"[A-Z]\.|\w(\.\.\.|\u2026)", word[0]))
    while words and edge(words[0]):
        words = words[1:]
    while words and edge(words[-1]):
        words = words[:-1]
    if not words:
        return None
    text, pure = one_script(" ".join(w for w, _ in words))
    name = clean_name(text)
    if not name or not is_name(name):
        return None
    weights = [(c, sum(1 for ch in w if script_of(ch))) for w, c in words]
    total = sum(n for _, n in weights)
    conf = sum(c * n for c, n in weights) / max(total, 1) * pure
    if least is None:
        least = NAME_CONF_SYLLABIC if _syllabic(name) else NAME_CONF
    return (name, round(conf, 1)) if conf >= least else None


def _key(name: str) -> str:
    """What two readings of one name share: letters and digits, case folded."""
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFC", name)).casefold()


def vote(found: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """Readings of one label (several crops, languages, frames) merged: readings of the same name
    (`_key`) add their scores and keep their surest spelling; best first. A name read alike from
    several frames or crops beats one read once, however sure."""
    groups: dict[str, list] = {}
    for name, score in found:
        g = groups.setdefault(_key(name), [name, score, 0.0])
        if score > g[1]:
            g[0], g[1] = name, score
        g[2] += score
    # a reading that holds another one whole ("John Brayton" and "Brayton": a crop that cut the
    # first word off) has half that one's votes too: it is the same label, read further
    total = {k: g[2] + 0.5 * sum(h[2] for j, h in groups.items() if j != k and j in k) for k, g in groups.items()}
    return [(groups[k][0], round(total[k], 1)) for k in sorted(groups, key=lambda k: (-total[k], -len(k)))]


def readings(img: np.ndarray | list[np.ndarray], langs: list[str], least: float | None = None) -> list[tuple[str, float]]:
    """The names read on a label image (or on each candidate crop of it), each language on its own
    and each reading kept to one script, voted (`vote`): (name, score), best first. Reading "kor"
    and "eng" apart, rather than "kor+eng" together, is what keeps Hangul out of a Latin name and
    the other way round."""
    found = []
    for im in (img if isinstance(img, list) else [img]):
        for lang in langs:
            # as a text line; where that finds nothing (it misses some short names outright), as a raw line
            words = ocr_words(im, lang) or ocr_words(im, lang, psm=13)
            got = reading(words, least)
            if got:
                found.append(got)
    return vote(found)


def read_names(frame: np.ndarray | list[np.ndarray], tiles, lang: str | None = None,
               roster=None) -> list[str | None]:
    """A name per tile (None where nothing legible, or without Tesseract). `frame` may be several
    frames of one layout: the name is what their readings agree on (`vote`; a label that did not
    change between frames is read once). The label is read with each language of `lang`
    (Tesseract's codes, "kor+eng"; default `default_lang()`) on its own. With a `roster`
    (`bot.roster.Roster`), each tile gets the roster name its readings fit best, or None below the
    roster's threshold."""
    if not available():
        return [None] * len(tiles)
    langs = [x for x in (lang or default_lang()).split("+") if x]
    frames = list(frame) if isinstance(frame, (list, tuple)) else [frame]
    least = ROSTER_CONF if roster is not None else None
    latin_pp = "eng" in langs and _ppocr() is not None
    tesseract = tesseract_installed()

    def one(t) -> list[tuple[str, float]]:
        box, off = (t["box"], t.get("camera_off", False) and not t.get("picture", False)) if isinstance(t, dict) \
            else (t.box, t.camera_off and not getattr(t, "picture", False))
        found, labels = [], []
        for fr in frames:
            x, y, w, h = (int(v) for v in box)
            label = fr[y + int(0.3 * h): y + h, x: x + w]
            if any(label.shape == seen.shape and np.array_equal(label, seen) for seen in labels):
                continue  # the same pixels read again would only repeat themselves
            labels.append(label)
            # Latin labels are PP-OCR's where it runs, other scripts Tesseract's packs' (each reads
            # every label: a Hangul label PP-OCR took for Latin letters loses the vote to the
            # Hangul reading). Tesseract's English, asked where PP-OCR read no name, added no
            # name on the real screenshots, only noise ("ess YOu" for Meet's "You", "Bs" of a
            # video), so it reads only where PP-OCR does not run
            pp = pp_reading(fr, box, off, least) if latin_pp else None
            use = [x for x in langs if x != "eng"] if latin_pp else langs
            got = []
            if tesseract and use:
                # a camera-off tile shows the name large in its centre: read that first (unless a
                # profile picture is there instead: its name is bottom-left, as on video)
                got = readings(name_strips(fr, box, True), use, least) if off else []
                got = got or readings(name_strips(fr, box, False), use, least)
            found += ([pp] if pp else []) + got
        return vote(found)

    with ThreadPoolExecutor(max_workers=ocr_workers()) as pool:
        found = list(pool.map(one, tiles))
    if roster is None:
        return [r[0][0] if r else None for r in found]
    # each tile's reading that fits some roster name best, then one roster name a tile
    # (among the readings near the best one: a weak reading of Hangul as Latin letters may fit a
    # Latin roster name better than the Hangul reading fits the right one)
    best = [max((x for x in r if x[1] >= 0.6 * r[0][1]), key=lambda x: max(roster.score(x[0]), default=0.0))[0]
            if r else None for r in found]
    return roster.match(best)


def ocr_workers() -> int:
    """Tesseract processes run at once: `$CLASSMOOD_OCR_WORKERS` (classmood-batch sets it to its
    threads per worker), else 2."""
    try:
        return max(1, int(os.environ.get("CLASSMOOD_OCR_WORKERS", "2")))
    except ValueError:
        return 2
