"""Observer benchmarks: detection quality, frame speed vs the original approach, video throughput,
bot memory. Needs FER2013 (faces for synthetic galleries); uses ../shared/data/galleries when there.

    python bench/gallery.py [--part quality,speed,video,memory] [--repeats 15]

Prints medians; run on an otherwise idle machine for absolute figures (ratios are side by side).
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

GALLERIES = Path(os.environ.get("CLASSMOOD_GALLERIES", Path(__file__).resolve().parents[2] / "shared/data/galleries"))


def faces_for_galleries(n=700):
    from tests.synthetic import detectable_faces
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
    from bot.analyzer import iou as _iou
    from tests.synthetic import render_gallery

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


def speed(analyzer, faces, repeats):
    from tests.synthetic import render_gallery
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

    def ours():
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


def video(analyzer, faces, minutes=5.0, every=2.0, fps=10):
    import cv2

    from bot.pipeline import analyze_path
    from tests.synthetic import render_gallery
    from bot.tracker import Tracker

    g = render_gallery(faces, 25, size=(1920, 1080), camera_off=2, seed=5)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "class.mp4"
        w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (1920, 1080))
        rng = np.random.default_rng(0)
        for i in range(int(minutes * 60 * fps)):
            img = g.image.copy()
            img[40:60, 20 + (i % 400):40 + (i % 400)] = rng.integers(0, 255, 3)  # something moves
            w.write(img)
        w.release()
        t = time.perf_counter()
        res = analyze_path(path, every=every, analyzer=analyzer, tracker=Tracker(ocr=False))
        dt = time.perf_counter() - t
    print(f"{minutes:g}-minute 1080p video at {every:g} s sampling: {len(res['frames'])} frames in {dt:.1f} s = "
          f"{minutes * 60 / dt:.1f}x real time")


def memory(analyzer, faces, n=1000):
    import resource

    from bot.pipeline import run
    from bot.store import Store
    from bot.tracker import Tracker
    from tests.synthetic import render_gallery

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
        return rss_mb() + (rss_mb(analyzer.detector.worker_pid) if analyzer.detector.worker_pid else 0.0)

    frames = [render_gallery(faces[k * 20:], 25, size=(1920, 1080), camera_off=2, seed=k).image for k in range(4)]
    with tempfile.TemporaryDirectory() as d:
        store = Store(Path(d) / "m.db")
        sid = store.start_session("memory", "bench")
        tracker = Tracker(ocr=False)
        at, bot_alone, peak = {}, {}, 0.0
        t0 = time.perf_counter()
        source = ((i * 5.0, frames[(i // 50) % len(frames)]) for i in range(n))  # layout changes every 50 frames

        def measure(record):
            i = int(record.time_s / 5.0)
            nonlocal peak
            if (i + 1) % 10 == 0:
                peak = max(peak, total_mb())
            if i + 1 in (200, n):
                at[i + 1] = total_mb()
                bot_alone[i + 1] = rss_mb()

        run(source, analyzer, tracker, store, sid, keep=False, on_frame=measure)  # the bot's own loop
        store.close()
    print(f"bot loop, {n} frames (25 tiles, 1080p) in {time.perf_counter() - t0:.0f} s: resident memory "
          f"(bot + detector worker) {at[200]:.0f} MB at frame 200, {at[n]:.0f} MB at frame {n} "
          f"({(at[n] / at[200] - 1):+.1%}); the bot alone {bot_alone[200]:.0f} MB and {bot_alone[n]:.0f} MB "
          f"({(bot_alone[n] / bot_alone[200] - 1):+.1%}: the worker's share is a saw-tooth, replaced every 96 MB "
          f"of images); peak {peak:.0f} MB; detector worker replaced {analyzer.detector.restarts - 1} times")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--part", default="quality,speed,video,memory")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--frames", type=int, default=1000)
    args = ap.parse_args()
    import warnings

    warnings.simplefilter("ignore")
    from bot import GalleryAnalyzer

    analyzer = GalleryAnalyzer()
    faces = faces_for_galleries()
    parts = args.part.split(",")
    if "quality" in parts:
        quality(analyzer, faces)
    if "speed" in parts:
        speed(analyzer, faces, args.repeats)
    if "video" in parts:
        video(analyzer, faces)
    if "memory" in parts:
        memory(analyzer, faces, args.frames)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
