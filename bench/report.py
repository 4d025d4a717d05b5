"""The post-class report: how soon it is ready after a lesson, how large it is, and whether its
moments are right, on a simulated lesson and on real screenshots.

1. **A 45-minute simulated lesson** (`bot.synthetic.SlideLesson`): a slide deck shared, a slide
   every 2 minutes, six students in a strip whose faces (FER2013 val faces the served model reads
   as calm, and as sad, surely) turn sad during slides 7-9; captured every 5 s as the bot captures
   (540 frames through the analyser, the tracker, the store and the stage recorder). Reported: the
   time from the session's end to the report stored and written (`bot.postclass.after_session`;
   median of `--repeat`), the HTML's size, the moments and the slide of the first one's thumbnail.
   The same lesson without the sad slides: moments where the class was lost (should be none).
2. **Real screenshots as calm lessons**: each shared real meeting screenshot, shown for 10 minutes
   and captured every 10 s, re-encoded as JPEG at a quality drawn from 70-95 each frame (a call's
   codec): moments where the class was lost (calm classes by eye: should be none).

    python bench/report.py [--every 5] [--minutes 45] [--repeat 3] [--skip-real]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from bench.cpu import vector_extensions  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared/data"


def lesson_faces():
    from bot.synthetic import detectable_faces
    from model import EmotionClassifier
    from training.data import default_fer2013_path, load_npz

    path = default_fer2013_path()
    if path is None:
        return None
    x, y = load_npz(path)["val"]
    p = EmotionClassifier.load().predict(x)
    sure = p.max(1) >= 0.8
    return (detectable_faces(x[(y == 6) & (p.argmax(1) == 6) & sure][:20])[:6],
            detectable_faces(x[(y == 4) & (p.argmax(1) == 4) & sure][:20])[:6])


def simulated(analyzer, faces, every: float, minutes: float, repeat: int, sad: bool, folder: Path) -> dict:
    from bot import postclass
    from bot.pipeline import run, session_parts
    from bot.store import Store
    from bot.synthetic import SlideLesson

    calm, sadf = faces
    lesson = SlideLesson(calm, sadf, n=6, minutes=minutes, every=every, sad_slides=(7, 8, 9) if sad else ())
    store = Store(folder / f"lesson-{sad}.db")
    sid = store.start_session("Biology, period 3", "screen:simulated", every)
    tracker, sink = session_parts(store, sid, analyzer, ocr=False)
    t0 = time.perf_counter()
    run(lesson, analyzer, tracker, sink, keep=False)
    frames_s = time.perf_counter() - t0
    store.end_session(sid)
    times, made = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        made = postclass.after_session(store, sid, folder / "reports")
        times.append(time.perf_counter() - t0)
    drops = [m for m in made.moments if m.direction == "drop"]
    first_slide = None
    if drops:
        thumbs = postclass.stage_on_screen(store.stage_images(sid), drops[0].start_s, drops[0].end_s, 60.0)
        first_slide = [lesson.slide_at(t) for t, _ in thumbs]
    return {"frames": len(lesson), "frames_s": frames_s, "report_s": statistics.median(times),
            "bytes": len(made.html.encode()), "drops": [(d.start_s, d.end_s) for d in drops],
            "slides": first_slide, "thumbs": len(store.stage_images(sid)), "db_bytes": Path(store.path).stat().st_size}


def real_calm(analyzer, minutes: float = 10.0, every: float = 10.0) -> list[tuple[str, int, int, int]]:
    """(screenshot, frames, faces per frame, drops) of each real screenshot as a calm lesson."""
    import cv2

    from bot.moments import find_moments
    from bot.pipeline import run, session_parts
    from bot.records import Frame
    from bot.report import build_report
    from bot.store import Store

    shots = sorted(p for d in (SHARED / "galleries", SHARED / "galleries2") for p in d.glob("*")
                   if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, path in enumerate(shots):
            image = cv2.imread(str(path))
            rng = np.random.default_rng(k)

            def frames():
                for t in np.arange(0.0, minutes * 60 + 1e-6, every):
                    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(70, 96))])
                    yield Frame(float(t), cv2.imdecode(buf, cv2.IMREAD_COLOR))

            store = Store(Path(tmp) / f"{k}.db")
            sid = store.start_session(path.name, "test", every)
            analyzer.forget()
            tracker, sink = session_parts(store, sid, analyzer, ocr=False)
            run(frames(), analyzer, tracker, sink, keep=False)
            store.end_session(sid)
            r = build_report(store, sid)
            drops = sum(m.direction == "drop" for m in find_moments(r.timeline))
            out.append((path.name, len(store.frames(sid)), int(round(r.now.faces_per_frame or 0)), drops))
            store.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--every", type=float, default=5.0, help="capture interval of the simulated lesson (s)")
    ap.add_argument("--minutes", type=float, default=45.0)
    ap.add_argument("--repeat", type=int, default=3, help="reports made per lesson (the median is printed)")
    ap.add_argument("--skip-real", action="store_true", help="leave out the real screenshots")
    args = ap.parse_args()
    from bot.analyzer import GalleryAnalyzer

    print(f"CPU: {vector_extensions()}")
    analyzer = GalleryAnalyzer()
    faces = lesson_faces()
    if faces is None:
        print("FER2013 not found (CLASSMOOD_FER2013): the simulated lesson is left out")
    else:
        with tempfile.TemporaryDirectory() as tmp:
            for sad in (True, False):
                r = simulated(analyzer, faces, args.every, args.minutes, args.repeat, sad, Path(tmp))
                what = "sad on slides 7-9" if sad else "calm throughout"
                print(f"{args.minutes:g}-minute lesson, {what}: {r['frames']} frames analysed in {r['frames_s']:.0f} s "
                      f"({1000 * r['frames_s'] / r['frames']:.0f} ms a frame); report ready {r['report_s']:.2f} s after "
                      f"the end [<= 5 s], {r['bytes'] / 1e6:.2f} MB [< 2 MB]; {r['thumbs']} stage thumbnails stored, "
                      f"database {r['db_bytes'] / 1e6:.1f} MB")
                drops = ", ".join(f"{a / 60:.0f}-{b / 60:.0f} min" for a, b in r["drops"]) or "none"
                print(f"  moments where the class was lost: {drops}"
                      + (f"; the first shows slides {r['slides']} [7 first]" if r["slides"] else ""))
    if not args.skip_real:
        if not (SHARED / "galleries").is_dir():
            print(f"real screenshots not found at {SHARED}: left out")
            return 0
        rows = real_calm(analyzer)
        for name, n, faces_per_frame, drops in rows:
            print(f"  {name}: {n} frames, {faces_per_frame} faces a frame, {drops} moment(s) where the class was lost")
        print(f"real screenshots as 10-minute calm lessons: {sum(r[3] > 0 for r in rows)} of {len(rows)} show a "
              "moment where the class was lost [0]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
