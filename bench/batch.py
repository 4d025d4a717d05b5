"""classmood-batch on this machine: a folder of recordings analysed by 1 worker x 1 thread and by
2 workers x 1 thread (a LocalCluster each), side by side; each worker's resident memory (with its
face-detector processes) after every recording of the 2-worker run; the per-worker rate, and what it
means for 300 hours of recordings in one night. Needs FER2013 (faces for the synthetic galleries).
`--kind desktop`: whole-desktop screen recordings instead (116 s, 1920x1080 H.264, mostly a browser
scrolling, then a webcam window, then a phone's photo of six faces: `bot.synthetic.ScreenRecording`).

    python bench/batch.py [--recordings 20] [--seconds 60] [--every 2] [--kind gallery|desktop]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "error")


def make_recordings(folder: Path, n: int, seconds: float, faces) -> list[Path]:
    """`n` 1280x720 9-tile gallery videos (mp4v, 5 fps), camera noise in the tiles, each its own faces."""
    import cv2
    import numpy as np

    from bot.synthetic import render_gallery

    out = []
    for k in range(n):
        g = render_gallery(faces[(k * 9) % len(faces):], 9, size=(1280, 720), camera_off=1, seed=k)
        video = [b for b, off in zip(g.tiles, g.camera_off) if not off]
        path = folder / f"lesson{k:02d}.mp4"
        w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 5, (1280, 720))
        rng = np.random.default_rng(k)
        for _ in range(int(seconds * 5)):
            img = g.image.copy()
            for x, y, bw, bh in video:
                part = img[y:y + bh, x:x + bw].astype(np.int16) + rng.integers(-2, 3, (bh, bw, 3))
                img[y:y + bh, x:x + bw] = np.clip(part, 0, 255).astype(np.uint8)
            w.write(img)
        w.release()
        out.append(path)
    return out


def make_desktop_recordings(folder: Path, n: int, faces) -> list[Path]:
    """`n` whole-desktop screen recordings (`bot.synthetic.ScreenRecording`), each its own seed."""
    from bot.synthetic import ScreenRecording, write_video

    out = []
    for k in range(n):
        rec = ScreenRecording(faces[(k * 7) % len(faces):], seed=k)
        out.append(write_video(folder / f"desktop{k:02d}.mp4", rec.frame, rec.seconds))
    return out


def _worker_rss_mb() -> float:
    """This Dask worker's resident memory plus its children's (the face detector's processes)."""
    def rss(pid):
        try:
            with open(f"/proc/{pid}/status") as f:
                return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024
        except (OSError, StopIteration):
            return 0.0
    me = os.getpid()
    kids = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if int(open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[1]) == me:
                    kids.append(int(p))
            except (OSError, IndexError, ValueError):
                continue
    return rss(me) + sum(rss(k) for k in kids)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--recordings", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--every", type=float, default=2.0)
    ap.add_argument("--kind", choices=("gallery", "desktop"), default="gallery")
    args = ap.parse_args()
    from bench.gallery import faces_for_galleries
    from bot.batch import plan, run_batch
    from cpu import vector_extensions

    faces = faces_for_galleries(200)
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d) / "term"
        folder.mkdir()
        if args.kind == "desktop":
            args.seconds = 116.0
            make_desktop_recordings(folder, args.recordings, faces)
            what = "1920x1080 H.264 whole-desktop screen recordings"
        else:
            make_recordings(folder, args.recordings, args.seconds, faces)
            what = "1280x720, 9 tiles"
        jobs = plan([str(folder)])
        hours = len(jobs) * args.seconds / 3600
        print(f"{len(jobs)} recordings of {args.seconds:g} s ({what}), --every {args.every:g} "
              f"({vector_extensions()}):", flush=True)
        times, memory, steady = {}, {}, {}
        for workers in (1, 2):
            mem: dict[str, list[float]] = {}

            done_at: list[float] = []

            def watch(client, outcome, mem=mem, done_at=done_at):
                done_at.append(time.perf_counter())
                for addr, mb in client.run(_worker_rss_mb).items():
                    mem.setdefault(addr, []).append(mb)

            t = time.perf_counter()
            outcomes = run_batch(jobs, str(Path(d) / f"w{workers}.db"), args.every, workers=workers,
                                 threads_per_worker=1, stream=open(os.devnull, "w"), on_done=watch)
            times[workers] = time.perf_counter() - t
            memory[workers] = mem
            # steady state (what a night of recordings sees): from the time every worker has finished
            # its first recording to the last, with cluster start and model loading behind
            if len(done_at) > workers:
                steady[workers] = (len(done_at) - workers) * args.seconds / (done_at[-1] - done_at[workers - 1])
            bad = [o for o in outcomes if o.status != "done"]
            print(f"  {workers} worker(s) x 1 thread: {times[workers]:.1f} s = {hours * 3600 / times[workers]:.0f}x "
                  f"real time{f'; {len(bad)} not done' if bad else ''}"
                  + (f"; steady, once every worker has finished a recording: {steady[workers]:.0f}x" if workers in steady
                     else ""), flush=True)
        print(f"  2 workers vs 1: {times[1] / times[2]:.2f}x faster (target >= 1.6x)")
        for addr, series in memory[2].items():
            k = max(1, len(series) // 4)
            print(f"  worker {addr.rsplit(':', 1)[-1]}: {len(series)} readings, resident memory (with its detector "
                  f"processes) first {series[0]:.0f} MB, after a quarter {series[k - 1]:.0f} MB, last {series[-1]:.0f} MB, "
                  f"max {max(series):.0f} MB")
        rate = hours * 3600 / times[2] / 2  # recording seconds a second, per worker of this size
        night = 10 * 3600
        need = 300 * 3600 / (rate * night)
        print(f"  per worker (1 thread): {rate:.0f}x real time: 300 hours in a 10-hour night need "
              f"{need:.1f} such workers (machines like this one, 2 workers each: {-(-need // 2):.0f})")
        if 2 in steady:  # a night is hundreds of recordings: the cluster's start is paid once
            need = 300 * 3600 / (steady[2] / 2 * night)
            print(f"  per worker (1 thread), steady: {steady[2] / 2:.0f}x real time: 300 hours in a 10-hour night "
                  f"need {need:.1f} such workers (machines like this one, 2 workers each: {-(-need // 2):.0f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
