"""Observer benchmarks: detection quality, time by stage (previous pipeline and today's, side by
side), frame speed vs the original approach, recordings (a desktop screen recording and a gallery
video), bot memory. Needs FER2013 (faces for synthetic galleries); uses ../shared/data/galleries
when there (the stages run on its real 25-tile 1080p gallery).

    python bench/gallery.py [--part quality,stages,speed,recording,video,memory,windows,names] [--repeats 15]
                            [--against OTHER_CHECKOUT]

Prints medians and the CPU's vector extensions; the previous pipeline and today's run interleaved
in one process, so their ratio holds on a noisy machine.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu import vector_extensions  # noqa: E402

GALLERIES = Path(os.environ.get("CLASSMOOD_GALLERIES", Path(__file__).resolve().parents[2] / "shared/data/galleries"))


def faces_for_galleries(n=700):
    from bot.synthetic import detectable_faces
    from training.data import default_fer2013_path, load_npz, stratified_sample

    path = default_fer2013_path()
    if path is None:
        sys.exit("bench/gallery.py needs FER2013: set CLASSMOOD_FER2013")
    x, y = load_npz(path)["val"]
    sample = x[stratified_sample(y, n, seed=7)]
    kept = detectable_faces(sample)
    print(f"faces: {len(kept)} of {len(sample)} seeded FER2013 val faces are found by the detector on their own")
    return kept


def quality(analyzer, faces):
    import cv2

    from bot.analyzer import center_in as _inside
    from bot.geometry import iou as _iou
    from bot.synthetic import render_gallery

    hits = total = false = dets = tiles_ok = tiles = 0
    configs = [(n, off, sb, size) for n, off, sb, size in
               [(49, 4, False, (1920, 1080)), (42, 3, True, (1920, 1080)), (36, 2, False, (1920, 1080)),
                (25, 3, True, (1920, 1080)), (16, 1, False, (1920, 1080)), (12, 0, True, (1920, 1080)),
                (9, 1, False, (1280, 720)), (6, 1, False, (1280, 720)), (4, 0, True, (1280, 720)),
                (2, 0, False, (1280, 720)), (30, 2, False, (2560, 1440)), (20, 2, False, (1366, 768))]]
    for k, (n, off, sb, size) in enumerate(configs):
        g = render_gallery(faces[(k * 37) % len(faces):], n, size=size, camera_off=off, sidebar=sb, seed=1000 + k)
        r = analyzer.analyze(g.image)
        hits += sum(any(_inside(f.box, s) for f in r.faces) for s in g.faces)
        false += sum(not any(_inside(f.box, s) for s in g.faces) for f in r.faces)
        total += len(g.faces)
        dets += len(r.faces)
        tiles_ok += sum(any(_iou(t.box, gt) >= 0.9 for t in r.tiles) for gt in g.tiles)
        tiles += len(g.tiles)
    print(f"synthetic galleries ({len(configs)}, 2 to 49 tiles, 720p to 1440p, side panels, camera-off tiles):")
    print(f"  faces found {hits}/{total} = {hits / total:.1%}; detections not on a face {false}/{dets} = "
          f"{false / max(1, dets):.1%}; tiles recovered (IoU >= 0.9) {tiles_ok}/{tiles} = {tiles_ok / tiles:.1%}")
    from bot.synthetic import render_share, with_profile_pictures

    got = want = live = live_want = off_ok = 0
    shares = [(4, "right", (250, 250, 250), (2,)), (2, "right", (250, 250, 250), ()), (4, "right", (40, 36, 35), (1,)),
              (6, "top", (250, 250, 250), (0,)), (6, "top", (30, 30, 30), (0,)), (3, "top", (90, 120, 160), ()),
              (7, "top", (250, 250, 250), (3, 5)), (5, "right", (20, 20, 20), ())]
    for k, (n, strip, content, off) in enumerate(shares):
        analyzer.forget()
        g = render_share(faces[(k * 11) % len(faces):], n, strip, content, camera_off=off, seed=k)
        r = analyzer.analyze(g.image)
        got += sum(any(_iou(t.box, gt) >= 0.9 for t in r.tiles) for gt in g.tiles)
        want += n
        live += sum(f.role == "participant" for f in r.faces)
        live_want += n - len(off)
        off_ok += len(r.tiles) == n and [t.camera_off for t in r.tiles] == g.camera_off
    print(f"screen shares ({len(shares)}: a slide or an editor, the class in a strip right or top):")
    print(f"  tiles recovered {got}/{want}; participants {live}/{live_want}; camera-off right in {off_ok}/{len(shares)}")
    seen = flagged = live_flagged = live_tiles = 0
    for k, (frac, shape) in enumerate([(f, s) for s in ("circle", "square") for f in (0.3, 0.4, 0.5, 0.6)]):
        analyzer.forget()
        g = render_gallery(faces[(k * 13) % len(faces):], 12, camera_off=4, seed=2000 + k)
        r = analyzer.analyze(with_profile_pictures(g, faces[(k * 17 + 300) % len(faces):], frac, shape))
        off = {i for i, c in enumerate(g.camera_off) if c}
        photos = {f.tile for f in r.faces if f.tile in off}
        seen += len(photos)
        flagged += sum(r.tiles[i].picture for i in photos if i < len(r.tiles))
        live_flagged += sum(t.picture for i, t in enumerate(r.tiles) if i not in off)
        live_tiles += 12 - len(off)
    print("profile photos on camera-off tiles (8 galleries of 12, 4 photos each, 30-60% of the tile high, circle or square):")
    print(f"  photos the detector saw {seen}/32, flagged as pictures {flagged}/{seen}; live tiles flagged {live_flagged}/{live_tiles}")
    manifest = GALLERIES / "MANIFEST.tsv"
    if manifest.exists():
        print("real screenshots (../shared/data/galleries):")
        for row in csv.DictReader(manifest.open(), delimiter="\t"):
            r = analyzer.analyze(cv2.imread(str(GALLERIES / row["file"])))
            part = sum(f.role == "participant" for f in r.faces)
            print(f"  {row['file']:<26} tiles {len(r.tiles)}/{row['tiles']}  camera-off "
                  f"{sum(t.camera_off for t in r.tiles)}/{row['camera_off_tiles']}  participants {part}, "
                  f"other faces {len(r.faces) - part}  (manifest: {row['participant_faces']} people, "
                  f"{row['partial_faces']} partial)")


def previous_analyzer(analyzer):
    """The pipeline as it was before the stage budgets: layout on every frame at full resolution,
    detection on the whole frame, two second looks on every empty tile, nothing reused, a spinning
    OpenMP pool in the detector's worker. Same model and detector code."""
    from bot.analyzer import AnalyzerOptions, GalleryAnalyzer
    from bot.layout import LayoutOptions
    from model.detector import FaceDetector

    det = FaceDetector(workers=1)
    det.worker_env = {}  # OpenMP's defaults: all cores, spinning between calls
    opts = AnalyzerOptions(second_look_height=224, roi=False, larger_look="always", reuse_layout=False,
                           reuse_detections=False, layout=LayoutOptions(pool_above=10 ** 9))
    return GalleryAnalyzer(opts, classifier=analyzer.classifier, detector=det)


def _noisy(frame, rng, level=3, tiles=None):
    """The same gallery a moment later: camera noise on every pixel of the video tiles (`tiles`:
    boxes; None: the whole frame). The meeting app draws its background and gutters itself: flat."""
    out = frame.copy()
    for x, y, w, h in tiles or [(0, 0, frame.shape[1], frame.shape[0])]:
        part = out[y:y + h, x:x + w].astype(np.int16) + rng.integers(-level, level + 1, (h, w, frame.shape[2]))
        out[y:y + h, x:x + w] = np.clip(part, 0, 255).astype(np.uint8)
    return out


def _moved(frame, tiles, k):
    """The same gallery a moment later with every face moved: the picture inside each video tile
    (`tiles`: boxes) shifted by a pixel right and down on odd `k`, left and up on even ones, so
    that no detection cached from the frame before applies; the tiles stay where they are."""
    out = frame.copy()
    d = 1 if k % 2 else -1
    for x, y, w, h in tiles:
        out[y:y + h, x:x + w] = np.roll(frame[y:y + h, x:x + w], (d, d), axis=(0, 1))
    return out


def stages(analyzer, faces, repeats):
    import cv2

    from bot.layout import find_tiles
    from bot.synthetic import render_gallery

    real = GALLERIES / "zoom4_korean_5x5.png"
    if real.exists():
        frame, what = cv2.imread(str(real)), f"{real.name} (real, 25 tiles, 1920x1027)"
    else:
        frame, what = render_gallery(faces, 25, size=(1920, 1080), camera_off=3, seed=25).image, \
            "synthetic 25-tile 1920x1080 gallery (../shared/data/galleries absent)"
    g49 = render_gallery(faces, 49, size=(1920, 1080), camera_off=0, seed=49).image
    video = [t.box for t in find_tiles(frame) if not t.camera_off]
    old = previous_analyzer(analyzer)
    rng = np.random.default_rng(0)
    names = ("layout", "detection", "classification")
    runs = {k: {n: [] for n in names + ("total",)}
            for k in ("previous", "first", "steady", "moved", "prev49", "first49")}

    def one(a, key, img, forget):
        if forget:
            a.forget()
        t = time.perf_counter()
        r = a.analyze(img)
        total = (time.perf_counter() - t) * 1000
        for n in names:
            runs[key][n].append(a.stage_ms[n])
        runs[key]["total"].append(total)
        return r

    one(old, "previous", frame, True), one(analyzer, "first", frame, True)
    runs = {k: {n: [] for n in v} for k, v in runs.items()}
    for k in range(repeats):  # interleaved: both see the same machine load
        noisy = _noisy(frame, rng, tiles=video)
        one(old, "previous", noisy, True)
        one(analyzer, "first", noisy, True)       # a frame seen for the first time
        one(analyzer, "steady", _noisy(frame, rng, tiles=video), False)  # the next frame of the same meeting
        one(analyzer, "moved", _moved(frame, video, k), False)  # ... in which every face moved
        one(old, "prev49", g49, True)
        one(analyzer, "first49", g49, True)
    med = {k: {n: statistics.median(v) for n, v in d.items()} for k, d in runs.items()}
    budget = {"layout": 15, "detection": 60, "classification": 60, "total": 150}
    print(f"time by stage, median of {repeats} ({vector_extensions()}):")
    print(f"  {what}")
    print(f"  {'stage':<16}{'previous':>10}{'now: 1st frame':>16}{'next frames':>13}{'all moved':>11}{'budget':>8}")
    for n in names + ("total",):
        print(f"  {n:<16}{med['previous'][n]:>8.0f}ms{med['first'][n]:>14.0f}ms{med['steady'][n]:>11.0f}ms"
              f"{med['moved'][n]:>9.0f}ms{budget[n]:>6}ms")
    print("  (all moved: a following frame in which the picture in every video tile moved by a pixel, so no "
          "cached detection applies; target 100 ms)")
    print(f"  49 tiles 1920x1080 (synthetic), total: previous {med['prev49']['total']:.0f} ms, "
          f"now {med['first49']['total']:.0f} ms (budget 250 ms); detection {med['prev49']['detection']:.0f} "
          f"-> {med['first49']['detection']:.0f} ms, layout {med['prev49']['layout']:.0f} -> "
          f"{med['first49']['layout']:.0f} ms")
    old.detector.close()


def speed(analyzer, faces, repeats):
    from bot.synthetic import render_gallery
    from model.crop import crop_faces

    g = render_gallery(faces, 49, size=(1920, 1080), camera_off=0, seed=49)
    frame = g.image
    scale = min(1.0, analyzer.options.frame_max_side / max(frame.shape[:2]))
    from model.network import load_keras

    model = load_keras(analyzer.classifier.path)  # the original approach: Keras on TensorFlow

    def original():  # whole-frame detection, then one Keras predict call per face
        dets = analyzer.detector.detect(frame, scale=scale)
        for d in dets:
            model.predict(crop_faces(frame, [d.box])[..., None].astype(np.float32), verbose=0)
        return dets

    def ours():  # a first frame each time: nothing reused from the last call
        analyzer.forget()
        return analyzer.analyze(frame)

    ours(), original()
    t_ours, t_orig = [], []
    for _ in range(repeats):  # interleaved, so both see the same machine load
        t = time.perf_counter(); r = ours(); t_ours.append((time.perf_counter() - t) * 1000)
        if len(t_orig) < max(3, repeats // 3):
            t = time.perf_counter(); o = original(); t_orig.append((time.perf_counter() - t) * 1000)
    mo, mb = statistics.median(t_ours), statistics.median(t_orig)
    print(f"1920x1080, 49 tiles: GalleryAnalyzer.analyze median {mo:.0f} ms ({len(r.faces)} faces); "
          f"original approach median {mb:.0f} ms ({len(o)} faces); {mb / mo:.1f}x faster")


def _analyse_recording(path, analyzer, every, backend):
    from bot.pipeline import run
    from bot.sources import VideoSource
    from bot.tracker import Tracker

    analyzer.forget()
    source = VideoSource(path, every=every, backend=backend, prefetch=2 if backend == "pyav" else 0)
    t = time.perf_counter()
    frames = run(source, analyzer, Tracker(ocr=False), keep=True).frames
    return time.perf_counter() - t, frames


def _cli(path: Path, every: float, checkout: Path, out: Path) -> tuple[float, dict]:
    """`classmood-analyze PATH --every E --json OUT` as a teacher runs it (a fresh process: start,
    imports and model load included; Tesseract reads names where installed), with the code of
    `checkout`; (wall seconds, the JSON)."""
    import json
    import subprocess

    env = dict(os.environ, PYTHONPATH=str(checkout), TF_CPP_MIN_LOG_LEVEL="3")
    code = "import sys; from bot.cli import analyze_main; sys.exit(analyze_main())"
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", code, str(path), "--every", f"{every:g}", "--json", str(out)],
                       cwd=str(checkout), env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        sys.exit(f"classmood-analyze failed in {checkout}: {r.stderr[-2000:]}")
    return dt, json.loads(out.read_text())


def _faces_by_part(result: dict, rec) -> str:
    """Faces found in each part of the desktop recording (browser, webcam, phone), against those shown."""
    parts = {"browser": [0, 0], "webcam": [0, 0], "phone": [0, 0]}
    for f in result["frames"]:
        t = f["time_s"]
        key = "browser" if t < rec.browse_s else ("webcam" if t < rec.webcam_end_s else "phone")
        parts[key][0] += len(f["faces"])
        parts[key][1] += rec.faces_at(t)
    return ", ".join(f"{k} {found}/{shown}" for k, (found, shown) in parts.items())


def recording(analyzer, faces, every=2.0, repeats=3, against: str | None = None):
    """A 116 s 1920x1080 25 fps H.264 screen recording of a whole desktop, mostly no meeting (a
    browser scrolling a page for 78 s, then a webcam window, then a photo of a phone showing six
    faces: `bot.synthetic.ScreenRecording`), through `classmood-analyze --every 2` as a teacher runs
    it; with `against`, another checkout's code run the same way, interleaved. Then where one run
    of this checkout's loop spends its time (waiting for decoded frames, analysis, names)."""
    from bot.pipeline import run
    from bot.sources import VideoSource
    from bot.tracker import Tracker
    from bot.synthetic import ScreenRecording, write_video

    rec = ScreenRecording(faces)
    here = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as d:
        path = write_video(Path(d) / "desktop.mp4", rec.frame, rec.seconds)
        checkouts = [("now", here)] + ([("against", Path(against).resolve())] if against else [])
        times: dict[str, list[float]] = {name: [] for name, _ in checkouts}
        results: dict[str, dict] = {}
        for k in range(repeats + 1):  # the first round warms the page cache and is not counted
            for name, checkout in checkouts:
                dt, results[name] = _cli(path, every, checkout, Path(d) / f"{name}.json")
                if k:
                    times[name].append(dt)
        import cv2

        blank = Path(d) / "blank.png"  # the CLI's fixed cost: start, imports, model load, one small picture
        cv2.imwrite(str(blank), np.full((240, 320, 3), 128, np.uint8))
        start = statistics.median(_cli(blank, every, here, Path(d) / "blank.json")[0] for _ in range(3))
        # where the time goes, in one process: the loop as classmood-analyze runs it
        analyzer.forget()
        source = iter(VideoSource(path, every=every))
        waited = [0.0]

        def timed():
            while True:
                t0 = time.perf_counter()
                item = next(source, None)
                waited[0] += time.perf_counter() - t0
                if item is None:
                    return
                yield item

        tracker = Tracker()
        searches, kept = analyzer.layouts.searches, analyzer.layouts.kept
        t0 = time.perf_counter()
        frames = run(timed(), analyzer, tracker).frames
        total = time.perf_counter() - t0
        t0 = time.perf_counter()
        decoded = sum(1 for _ in VideoSource(path, every=every))  # the decoder alone, nothing else running
        decode = time.perf_counter() - t0
    print(f"desktop screen recording, {rec.seconds:g} s 1920x1080 25 fps H.264 (a browser scrolling for "
          f"{rec.browse_s:g} s, a webcam window, a phone's photo of 6 faces), classmood-analyze --every {every:g}, "
          f"process start and model load included, median of {repeats} ({vector_extensions()}):")
    for name, _ in checkouts:
        m = statistics.median(times[name])
        print(f"  {name:8s} {m:5.1f} s = {rec.seconds / m:4.1f}x real time; faces found: "
              f"{_faces_by_part(results[name], rec)}" + ("  (target >= 20x)" if name == "now" else ""))
    print(f"  of which the process's start, imports and model load: {start:.1f} s (the CLI on one small picture)")
    print(f"  one run of the loop in-process: {total:.1f} s, of which {waited[0]:.1f} s waiting for decoded frames "
          f"(the decoder alone takes {decode:.1f} s for its {decoded} samples: every reference frame between them "
          f"is decoded); {len(frames)} frames, {analyzer.layouts.searches - searches} layout searches, "
          f"{analyzer.layouts.kept - kept} changed frames kept by the cheap checks, {tracker.reads} name strips read")


def video(analyzer, faces, minutes=5.0, every=2.0, fps=10):
    import cv2

    from bot.synthetic import render_gallery

    old = previous_analyzer(analyzer)
    g = render_gallery(faces, 25, size=(1920, 1080), camera_off=2, seed=5)
    video = [b for b, off in zip(g.tiles, g.camera_off) if not off]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "class.mp4"
        w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (1920, 1080))
        rng = np.random.default_rng(0)
        for i in range(int(minutes * 60 * fps)):
            img = _noisy(g.image, rng, 2, video)  # camera noise in every video tile
            img[40:60, 20 + (i % 400):40 + (i % 400)] = rng.integers(0, 255, 3)  # something moves
            w.write(img)
        w.release()
        t_old, f_old = _analyse_recording(path, old, every, "opencv")
        t_new, f_new = _analyse_recording(path, analyzer, every, "pyav")
    print(f"{minutes:g}-minute 1080p 25-tile gallery video (mp4v, {fps} fps) at {every:g} s sampling "
          f"({vector_extensions()}): previous {len(f_old)} frames in {t_old:.1f} s = {minutes * 60 / t_old:.1f}x "
          f"real time; now {len(f_new)} frames in {t_new:.1f} s = {minutes * 60 / t_new:.1f}x (target >= 8x)")
    old.detector.close()


def memory(analyzer, faces, n=1000):
    import resource

    from bot.pipeline import Sink, run
    from bot.records import Frame
    from bot.store import Store
    from bot.synthetic import render_gallery
    from bot.tracker import Tracker

    def rss_mb(pid="self"):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS"):
                        return int(line.split()[1]) / 1024
        except OSError:
            return 0.0
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def total_mb():  # the bot's process plus its face-detector worker
        return rss_mb() + sum(rss_mb(pid) for pid in analyzer.detector.worker_pids)

    frames = [render_gallery(faces[k * 20:], 25, size=(1920, 1080), camera_off=2, seed=k).image for k in range(4)]
    with tempfile.TemporaryDirectory() as d:
        store = Store(Path(d) / "m.db")
        sid = store.start_session("memory", "bench")
        tracker = Tracker(ocr=False)
        at, bot_alone, peak = {}, {}, 0.0
        t0 = time.perf_counter()
        source = (Frame(i * 5.0, frames[(i // 50) % len(frames)]) for i in range(n))  # layout changes every 50 frames

        def measure(record):
            i = int(record.time_s / 5.0)
            nonlocal peak
            if (i + 1) % 10 == 0:
                peak = max(peak, total_mb())
            if i + 1 in (200, n):
                at[i + 1] = total_mb()
                bot_alone[i + 1] = rss_mb()

        run(source, analyzer, tracker, Sink(store, sid), keep=False, on_frame=measure)  # the bot's own loop
        store.close()
    print(f"bot loop, {n} frames (25 tiles, 1080p) in {time.perf_counter() - t0:.0f} s: resident memory "
          f"(bot + detector worker) {at[200]:.0f} MB at frame 200, {at[n]:.0f} MB at frame {n} "
          f"({(at[n] / at[200] - 1):+.1%}); the bot alone {bot_alone[200]:.0f} MB and {bot_alone[n]:.0f} MB "
          f"({(bot_alone[n] / bot_alone[200] - 1):+.1%}: the worker's share is a saw-tooth, replaced every 96 MB "
          f"of images); peak {peak:.0f} MB; detector worker replaced {analyzer.detector.restarts - 1} times")


def windows():
    """Real screenshots pasted as a window into desktops (bench and tests share `desktop_with`):
    tiles recovered at IoU >= 0.9 against those found on the screenshot alone, and what a layout
    search costs on such a desktop against the screenshot alone."""
    import cv2

    from bot.layout import find_tiles, iou as _iou
    from bot.synthetic import POSITIONS, desktop_with

    shots = sorted(p for p in GALLERIES.glob("*") if p.suffix.lower() in (".png", ".jpg"))
    if not shots:
        print(f"windows: no screenshots at {GALLERIES}")
        return
    print("galleries in windows: real screenshots in 1920x1080 desktops (wallpaper, other windows, icons, "
          "taskbar, title bar), window 50/65/80% of the screen's width at 4 places:")
    total = hit = 0
    t_desk, t_shot = [], []
    for path in shots:
        shot = cv2.imread(str(path))
        truth = [t.box for t in find_tiles(shot)]
        row = []
        for frac in (0.5, 0.65, 0.8):
            got_frac = 0
            for k, pos in enumerate(POSITIONS):
                desk, (x0, y0, s) = desktop_with(shot, frac, pos, seed=k)
                t = time.perf_counter()
                got = [t_.box for t_ in find_tiles(desk)]
                t_desk.append(time.perf_counter() - t)
                want = [(round(x * s) + x0, round(y * s) + y0, round(w * s), round(h * s)) for x, y, w, h in truth]
                got_frac += sum(any(_iou(w, b) >= 0.9 for b in got) for w in want)
                total += len(want)
            hit += got_frac
            row.append(f"{frac:.0%}: {got_frac}/{4 * len(truth)}")
        t = time.perf_counter()
        find_tiles(shot)
        t_shot.append(time.perf_counter() - t)
        print(f"  {path.name:<26} {len(truth):>2} tiles alone; in windows " + ", ".join(row))
    print(f"  all: {hit}/{total} = {hit / total:.1%} of tiles recovered [>= 95%]; a layout search takes "
          f"{statistics.median(t_desk) * 1e3:.0f} ms on a desktop, {statistics.median(t_shot) * 1e3:.0f} ms on a "
          f"screenshot alone (medians; searches run only when the layout changes)")


HANGUL_FAMILY = "김이박최정강조윤장임한오서신권황안송"
HANGUL_GIVEN = ["민준", "서연", "지우", "하은", "도윤", "수아", "예준", "지민", "시우", "서윤", "주원", "하린", "지호",
                "채원", "현우", "다은", "건우", "예린", "우진", "소율"]


def _class_names(n: int, seed: int) -> list[str]:
    """Made-up names, Latin and Hangul mixed about half and half, all different."""
    from bot.synthetic import FIRST, LAST

    rng = np.random.default_rng(seed)
    out: list[str] = []
    while len(out) < n:
        if rng.random() < 0.5:
            name = f"{FIRST[rng.integers(len(FIRST))]} {LAST[rng.integers(len(LAST))]}"
        else:
            name = HANGUL_FAMILY[rng.integers(len(HANGUL_FAMILY))] + HANGUL_GIVEN[rng.integers(len(HANGUL_GIVEN))]
        if name not in out:
            out.append(name)
    return out


def overlays(analyzer, faces):
    """Tablet and phone layouts with controls drawn over the videos (`bot.synthetic.controls_over`):
    tiles recovered at IoU >= 0.9 against the tiles as drawn; and through the analyser (which makes
    a tile for each face where the grid is not found), faces drawn that are a participant in a tile
    of their own: never fewer tiles than faces."""
    from bot.layout import find_tiles, iou as _iou
    from bot.synthetic import OVERLAYS, controls_over, render_gallery

    print("tablet and phone layouts with a toolbar and a banner over the videos (synthetic):")
    total = hit = drawn = own = 0
    for name, size, n in (("tablet landscape", (1366, 1024), 9), ("tablet landscape", (1366, 1024), 16),
                          ("tablet portrait", (768, 1024), 6), ("small tablet", (1024, 768), 6),
                          ("phone landscape", (844, 390), 4)):
        g = render_gallery(faces, n, size=size, seed=n)
        row = []
        for kind in OVERLAYS:
            img = controls_over(g.image, g.tiles, kind)
            got = [t.box for t in find_tiles(img)]
            k = sum(any(_iou(w, b) >= 0.9 for b in got) for w in g.tiles)
            hit, total = hit + k, total + n
            analyzer.forget()
            res = analyzer.analyze(img)
            own += min(len(g.faces), len({f.tile for f in res.participant_faces}))
            drawn += len(g.faces)
            row.append(f"{kind} {k}/{n}")
        print(f"  {name} {size[0]}x{size[1]}, {n} tiles: " + ", ".join(row))
    analyzer.forget()
    print(f"  all: {hit}/{total} = {hit / total:.1%} of tiles recovered; through the analyser {own}/{drawn} faces "
          f"drawn are a participant in a tile of their own")


def names(faces):
    """Names on synthetic galleries (16, 25, 49 tiles, 1920x1080, video backgrounds) with rendered
    Latin and Hangul names: exact with a roster, exact without, names that mix scripts; then a
    simulated page change (two galleries of different people in turn) through the tracker."""
    from bot import ocr
    from bot.ocr import script_of
    from bot.roster import Roster
    from bot.tracker import Tracker
    from bot.synthetic import render_gallery, seen_gallery

    if not ocr.available():
        print("names: neither PP-OCR nor Tesseract installed")
        return
    print(f"names on synthetic galleries (Latin labels: {ocr.engine()}; Tesseract's languages {ocr.default_lang()}):")
    totals = [0, 0, 0, 0]
    for n in (16, 25, 49):
        people = _class_names(n, seed=n)
        roster = Roster(people + _class_names(8, seed=100 + n))  # the roster lists some absent students too
        g = render_gallery(faces, n, size=(1920, 1080), names=people, seed=n)
        tiles = [{"box": b, "camera_off": False} for b in g.tiles]
        plain = ocr.read_names(g.image, tiles)
        named = ocr.read_names(g.image, tiles, roster=roster)
        exact = sum(a == b for a, b in zip(plain, people))
        right = sum(a == b for a, b in zip(named, people))
        wrong = sum(a is not None and a != b for a, b in zip(named, people))
        mixed = sum(len({script_of(c) for c in (a or "")} - {None}) > 1 for a in plain)
        totals = [totals[0] + n, totals[1] + right, totals[2] + exact, totals[3] + mixed]
        print(f"  {n} tiles: with a roster {right}/{n} exact ({wrong} named wrongly, {n - right - wrong} unnamed); "
              f"without {exact}/{n} exact; names mixing scripts {mixed}")
    n, right, exact, mixed = totals
    print(f"  all: with a roster {right}/{n} = {right / n:.1%} [>= 95%]; without {exact}/{n} = {exact / n:.1%} "
          f"[>= 70%]; mixed scripts {mixed} [0]")
    first, second = _class_names(50, seed=7)[:25], _class_names(50, seed=7)[25:]
    roster = Roster(first + second)
    for label, kw in (("with a roster", {"roster": roster}), ("without", {})):
        tracker = Tracker(**kw)
        seen = set()
        for k, people in enumerate((first, second, first)):  # page 1, page 2, back to page 1
            g = render_gallery(faces[25 * k:], 25, size=(1920, 1080), names=people, seed=40 + k)

            rec = tracker.update(seen_gallery(float(k), g.tiles), g.image)
            seen |= {f.participant for f in rec.faces}  # the ids the store would keep
        print(f"  page change (25 people, then 25 others, then the first again) {label}: {len(seen)} participants "
              f"for 50 people shown [50 +/- 1]")
    # the time to read a 49-tile gallery's names, each way in turn (`$CLASSMOOD_OCR_ENGINE`)
    g = render_gallery(faces, 49, size=(1920, 1080), names=_class_names(49, seed=49), seed=49)
    tiles = [{"box": b, "camera_off": False} for b in g.tiles]
    ways = ["ppocr", "tesseract"] if ocr.engine() == "ppocr" else ["tesseract"]
    took: dict[str, list[float]] = {w: [] for w in ways}
    before = os.environ.get("CLASSMOOD_OCR_ENGINE")
    try:
        for _ in range(3):
            for way in ways:
                os.environ["CLASSMOOD_OCR_ENGINE"] = way
                t0 = time.perf_counter()
                ocr.read_names(g.image, tiles)
                took[way].append(time.perf_counter() - t0)
    finally:
        if before is None:
            os.environ.pop("CLASSMOOD_OCR_ENGINE", None)
        else:
            os.environ["CLASSMOOD_OCR_ENGINE"] = before
    print("  reading 49 tiles' names, median of 3, in turn: " + "; ".join(
        f"{w} {statistics.median(v):.1f} s" for w, v in took.items()) + f" ({ocr.ocr_workers()} workers)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--part", default="quality,stages,speed,recording,video,memory,windows,overlays,names")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--frames", type=int, default=1000)
    ap.add_argument("--against", metavar="DIR", help="recording: also run another checkout's classmood-analyze "
                                                     "(e.g. a git worktree of main), side by side")
    args = ap.parse_args()
    import warnings

    warnings.simplefilter("ignore")
    from bot import GalleryAnalyzer

    analyzer = GalleryAnalyzer()
    faces = faces_for_galleries()
    parts = args.part.split(",")
    if "quality" in parts:
        quality(analyzer, faces)
    if "stages" in parts:
        stages(analyzer, faces, args.repeats)
    if "speed" in parts:
        speed(analyzer, faces, args.repeats)
    if "recording" in parts:
        recording(analyzer, faces, against=args.against)
    if "video" in parts:
        video(analyzer, faces)
    if "memory" in parts:
        memory(analyzer, faces, args.frames)
    if "windows" in parts:
        windows()
    if "overlays" in parts:
        overlays(analyzer, faces)
    if "names" in parts:
        names(faces)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
