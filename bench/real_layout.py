"""The real meeting screenshots read smaller, compressed and as a recording's frames: each screenshot
of `../shared/data/galleries` and `galleries2` scaled (area averaging; cubic above 1x), then saved as
JPEG or written as one H.264 frame (libx264 through PyAV, yuv420p, as a recording carries it), read
once by a fresh analyser. Per variant: how many screenshots have every tile where it is at full
size (the count exact and each full-size tile matched at IoU >= 0.85, scaled back) with the
camera-off tiles exact, and how many also have the people their manifest counts (participants on
live tiles, and other faces a third of their tile's participant's size or more, within the
manifest's whole and partial faces). Failures are listed.

    python bench/real_layout.py [--variants 0.6,0.4,0.85j80,1280h23,800h26]

A variant is a scale (0.6), a scale saved as JPEG at a quality (0.85j80), or a width in pixels
written through H.264 at a constant rate factor (1280h23).
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SHARED = Path(__file__).resolve().parents[2] / "shared/data"
DEFAULT = "0.8,0.6,0.5,0.4,0.85j80,0.7j80,1.2j80,1920h23,1600h28,1280h23,1280h30,960h28,800h26,640h28"


def people(result) -> int:
    """Participants on live tiles, and other faces a third of their tile's participant or more (a
    second person at one camera), not small figures far behind or a camera-off tile's photo."""
    main = {f.tile: f.box[2] * f.box[3] for f in result.faces if f.role == "participant"}
    return sum(1 for f in result.faces if f.tile is not None and not result.tiles[f.tile].camera_off
               and (f.role == "participant" or f.box[2] * f.box[3] >= main.get(f.tile, 0) / 3))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variants", default=DEFAULT, help=f"comma-separated (default: {DEFAULT})")
    ap.add_argument("--dirs", nargs="*", default=[str(SHARED / "galleries"), str(SHARED / "galleries2")])
    args = ap.parse_args()
    variants = []
    for v in args.variants.split(","):
        m = re.fullmatch(r"(\d+(?:\.\d+)?)(?:j(\d+))?|(\d+)h(\d+)", v.strip())
        if not m:
            print(f"--variants: {v!r} is no scale (0.6), scale and JPEG quality (0.85j80) "
                  "or width and rate factor (1280h23)")
            return 2
        variants.append((v.strip(), m))
    import cv2

    from bot.analyzer import GalleryAnalyzer
    from bot.geometry import iou
    from bot.synthetic import h264_screen_frame

    shots = []
    for d in map(Path, args.dirs):
        if (d / "MANIFEST.tsv").exists():
            shots += [(d / r["file"], r) for r in csv.DictReader(open(d / "MANIFEST.tsv"), delimiter="\t")]
    if not shots:
        print(f"no MANIFEST.tsv in {', '.join(args.dirs)}")
        return 2
    print(f"{len(shots)} real screenshots, each read once by a fresh analyser; placed: tiles and camera-off tiles "
          "exact, every tile where it is at full size (IoU >= 0.85); all: and the people within the manifest's range")
    for name, m in variants:
        placed = right = 0
        wrong = []
        for path, row in shots:
            image = cv2.imread(str(path))
            full = [t.box for t in GalleryAnalyzer().analyze(image).tiles]
            if m.group(3):
                s = int(m.group(3)) / image.shape[1]
            else:
                s = float(m.group(1))
            shot = cv2.resize(image, None, fx=s, fy=s, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
            if m.group(2):
                shot = cv2.imdecode(cv2.imencode(".jpg", shot, [cv2.IMWRITE_JPEG_QUALITY, int(m.group(2))])[1], 1)
            if m.group(4):
                shot = h264_screen_frame(shot, int(m.group(4)))
            r = GalleryAnalyzer().analyze(shot)
            back = [tuple(v / s for v in t.box) for t in r.tiles]
            fit = min((max((iou(a, b) for b in back), default=0.0) for a in full), default=1.0)
            tiles_ok = (len(r.tiles) == int(row["tiles"]) and fit >= 0.85
                        and sum(t.camera_off for t in r.tiles) == int(row["camera_off_tiles"]))
            n = people(r)
            lo, hi = int(row["participant_faces"]), int(row["participant_faces"]) + int(row["partial_faces"])
            placed += tiles_ok
            right += tiles_ok and lo <= n <= hi
            if not (tiles_ok and lo <= n <= hi):
                wrong.append(f"{path.name} ({len(r.tiles)} tiles, IoU {fit:.2f}, "
                             f"{sum(t.camera_off for t in r.tiles)} camera-off, {n} people)")
        print(f"{name:>9}: placed {placed}/{len(shots)}, all {right}/{len(shots)}"
              + (f"; wrong: {'; '.join(wrong)}" if wrong else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
