"""The measurements behind attention (model/headpose.py, bot/attention.py): head pose from five
landmarks against real faces with known pose, and the calm galleries.

Data (public, kept outside the repository; `--data DIR`, default `$CLASSMOOD_POSE_DATA`, else
`../data/aflw2000` beside the repository):
- AFLW2000-3D (Zhu et al., "Face Alignment Across Large Poses: A 3D Solution", CVPR 2016) as
  3DDFA's evaluation files: `git -C 3DDFA show HEAD:test.configs/<file>` from
  github.com/cleardusk/3DDFA for AFLW2000-3D.pose.npy (yaw of each of the 2,000 faces, degrees),
  AFLW2000-3D.pts68.npy (68 landmarks of the fitted face model) and
  AFLW2000-3D-Reannotated.pts68.npy (68 landmarks placed again by hand). No pixels.
- `images/JPEG` and `images/MAT`: 64 AFLW2000-3D images with their .mat labels (yaw, pitch, roll:
  `Pose_Para`), from github.com/Ayatollah-Ibrahim/Head_Pose_Estimation (`data/`). The detector's
  own landmarks are measured on these real pixels.
Parts: template (the even-numbered faces' median face, next to the one in model/headpose.py),
landmarks (odd-numbered faces: facing/away agreement and angle errors from annotated landmarks,
also with noise added), images (the detector's landmarks on real pixels), galleries (the five real
screenshots: share read as facing).

    python bench/attention.py [--data DIR] [--part template,landmarks,images,galleries]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

AWAY_AT = 30.0  # the truth: |yaw| beyond 30 degrees is turned away


def _five(pts68: np.ndarray) -> np.ndarray:
    """(N, 68, 2+) -> (N, 5, 2+): eye centres (means of the eye contours), nose tip, mouth corners,
    in the detector's order (the eye on the image's left first)."""
    return np.stack([pts68[:, 36:42].mean(1), pts68[:, 42:48].mean(1), pts68[:, 30], pts68[:, 48], pts68[:, 54]], 1)


def _wrap(a):
    return (np.asarray(a, np.float64) + 180.0) % 360.0 - 180.0


def _agreement(est_yaw, true_yaw, label=""):
    away_e, away_t = np.abs(est_yaw) > AWAY_AT, np.abs(true_yaw) > AWAY_AT
    agree = float(np.mean(away_e == away_t))
    facing = float(np.mean(~away_e[~away_t])) if (~away_t).any() else float("nan")
    away = float(np.mean(away_e[away_t])) if away_t.any() else float("nan")
    print(f"  {label:<34} n {len(true_yaw):>4}: facing vs away agreement {agree:.1%} "
          f"(facing read facing {facing:.1%} of {int((~away_t).sum())}, away read away {away:.1%} of "
          f"{int(away_t.sum())}); yaw error median {np.median(np.abs(est_yaw - true_yaw)):.1f}, "
          f"mean {np.mean(np.abs(est_yaw - true_yaw)):.1f} degrees")
    return agree


def part_template(data: Path) -> None:
    from model.headpose import TEMPLATE

    yaw = _wrap(np.load(data / "AFLW2000-3D.pose.npy"))
    pts = np.load(data / "AFLW2000-3D.pts68.npy").transpose(0, 2, 1)  # (N, 68, 3): x, y, z towards the camera
    five = _five(pts)
    pick = (np.arange(len(yaw)) % 2 == 0) & (np.abs(yaw) < 10)
    f = five[pick]
    iod = np.linalg.norm(f[:, 1, :2] - f[:, 0, :2], axis=1)
    rel = np.median((f - f[:, 2:3]) / iod[:, None, None], axis=0) * 62.0  # mm at a 62 mm eye distance
    eye = ((rel[1, 0] - rel[0, 0]) / 2, (rel[0, 1] + rel[1, 1]) / 2, -(rel[0, 2] + rel[1, 2]) / 2)
    mouth = ((rel[4, 0] - rel[3, 0]) / 2, (rel[3, 1] + rel[4, 1]) / 2, -(rel[3, 2] + rel[4, 2]) / 2)
    print(f"template from the even-numbered near-frontal faces (|yaw| < 10, {pick.sum()} faces), mm "
          f"(x either side, y below the nose tip, z behind it):")
    print(f"  measured: eyes {eye[0]:.1f}, {eye[1]:.1f}, {eye[2]:.1f}; mouth corners {mouth[0]:.1f}, {mouth[1]:.1f}, "
          f"{mouth[2]:.1f}")
    print(f"  model/headpose.py: eyes {TEMPLATE[1, 0]:.0f}, {TEMPLATE[1, 1]:.0f}, {TEMPLATE[1, 2]:.0f}; "
          f"mouth corners {TEMPLATE[4, 0]:.0f}, {TEMPLATE[4, 1]:.0f}, {TEMPLATE[4, 2]:.0f}")


def part_landmarks(data: Path) -> None:
    from model.headpose import head_pose

    yaw = _wrap(np.load(data / "AFLW2000-3D.pose.npy"))
    odd = np.arange(len(yaw)) % 2 == 1
    print("AFLW2000-3D, odd-numbered faces (not used for the template), annotated landmarks; "
          "AFLW's yaw is the person's, ours the image's: compared as -yaw")
    rng = np.random.default_rng(0)
    for name, label in (("AFLW2000-3D.pts68.npy", "fitted landmarks"),
                        ("AFLW2000-3D-Reannotated.pts68.npy", "landmarks placed by hand")):
        pts = np.load(data / name)[:, :2].transpose(0, 2, 1)
        five = _five(pts)[odd]
        _agreement(-head_pose(five)[:, 0], yaw[odd], label)
        iod = np.linalg.norm(five[:, 1] - five[:, 0], axis=1)
        for sigma in (0.03, 0.06):
            noisy = five + rng.normal(size=five.shape) * (sigma * iod)[:, None, None]
            _agreement(-head_pose(noisy)[:, 0], yaw[odd], f"{label}, noise {sigma:.0%} of eye distance")


def _images(data: Path):
    import scipy.io

    folder = data / "images"
    for jpg in sorted((folder / "JPEG").glob("*.jpg")):
        mat = scipy.io.loadmat(str(folder / "MAT" / (jpg.stem + ".mat")))
        pitch, yaw, roll = _wrap(np.degrees(mat["Pose_Para"][0][:3]))
        yield jpg, (float(yaw), float(pitch), float(roll)), mat


def part_images(data: Path) -> None:
    import cv2

    from bot.attention import DOWN_PITCH
    from model.detector import FaceDetector
    from model.headpose import head_pose

    det = FaceDetector()
    rows, boxes, missed = [], [], 0
    for jpg, truth, mat in _images(data):
        image = cv2.imread(str(jpg))
        found = det.detect(image, min_confidence=0.3)
        p = mat["pt3d_68"][:2].T[None]
        annotated = head_pose(_five(p))[0]
        if not found:
            missed += 1
            continue
        cx, cy = image.shape[1] / 2, image.shape[0] / 2
        face = min(found, key=lambda d: abs(d.box[0] + d.box[2] / 2 - cx) + abs(d.box[1] + d.box[3] / 2 - cy))
        rows.append((truth, head_pose(face.landmarks), annotated))
        boxes.append((jpg, truth, face.box))
    sizes = []
    for px in (200, 100, 60, 40, 30):  # the same faces, resized to a gallery tile's face widths
        got = []
        for jpg, truth, (x, y, w, h) in boxes:
            image = cv2.imread(str(jpg))
            found = det.detect(image, scale=px / w, min_confidence=0.3)
            cx, cy = x + w / 2, y + h / 2
            near = [d for d in found if abs(d.box[0] + d.box[2] / 2 - cx) + abs(d.box[1] + d.box[3] / 2 - cy) < w]
            if near:
                got.append((truth, head_pose(near[0].landmarks)))
        sizes.append((px, len(got), np.array([g[0] for g in got]), np.array([g[1] for g in got])))
    det.close()
    t = np.array([r[0] for r in rows])
    e = np.array([r[1] for r in rows])
    a = np.array([r[2] for r in rows])
    print(f"AFLW2000-3D images ({len(rows) + missed}; the detector found {len(rows)}), the detector's landmarks "
          f"on real pixels, against the labels (yaw compared as -yaw):")
    _agreement(-e[:, 0], t[:, 0], "detector landmarks")
    _agreement(-a[:, 0], t[:, 0], "annotated landmarks, same faces")
    print("  the same faces resized to a face width of (pixels), detector landmarks:")
    for px, n, tt, ee in sizes:
        k = (np.abs(tt[:, 0]) < 45) & (np.abs(tt[:, 1]) < 60)
        slope = [np.polyfit(tt[k, j], s * ee[k, j], 1)[0] for j, s in ((0, -1), (1, 1), (2, 1))]
        agree = np.mean((np.abs(ee[:, 0]) > AWAY_AT) == (np.abs(tt[:, 0]) > AWAY_AT))
        print(f"    {px:>3} px: found {n}; facing vs away agreement {agree:.1%}; slope yaw {slope[0]:.2f}, "
              f"pitch {slope[1]:.2f}, roll {slope[2]:.2f}")
    ok = (np.abs(t[:, 0]) < 45) & (np.abs(t[:, 1]) < 60)  # labels that are not wrapped round
    for name, est in (("detector", e), ("annotated", a)):
        for k, angle in ((1, "pitch"), (2, "roll")):
            slope = np.polyfit(t[ok, k], est[ok, k], 1)[0]
            r = np.corrcoef(t[ok, k], est[ok, k])[0, 1]
            print(f"  {name:<9} {angle}: correlation {r:.2f}, slope {slope:.2f} (1 = true scale), "
                  f"median error {np.median(np.abs(est[ok, k] - t[ok, k])):.1f} degrees, n {ok.sum()}")
    down_t = t[ok, 1] < -DOWN_PITCH
    level = ok & (np.abs(t[:, 1]) < 10)
    for name, est in (("detector", e), ("annotated", a)):
        # against the camera's axis, and against a baseline: the median reading of the faces
        # labelled level (what a participant's own baseline learns in class)
        for base_name, base in (("camera axis", 0.0), ("baseline", float(np.median(est[level, 1])))):
            down_e = est[ok, 1] - base < -DOWN_PITCH
            print(f"  looking down (pitch below -{DOWN_PITCH:.0f}), {name} landmarks, {base_name} {base:+.1f}: "
                  f"{int(down_t.sum())} faces down, {int((down_e & down_t).sum())} read down; "
                  f"{int((down_e & ~down_t).sum())} of {int((~down_t).sum())} others read down")


def part_galleries() -> None:
    import cv2

    from bot.analyzer import GalleryAnalyzer
    from bot.attention import attention_of, state_of

    folder = Path(os.environ.get("CLASSMOOD_GALLERIES", REPO.parent / "shared" / "data" / "galleries"))
    files = sorted(p for p in folder.glob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    if not files:
        print(f"galleries: none at {folder}")
        return
    analyzer = GalleryAnalyzer()
    print("real gallery screenshots (students in class), one frame each, against the camera's axis:")
    everyone, poses = [], []
    for path in files:
        analyzer.forget()
        faces = [f for f in analyzer.analyze(cv2.imread(str(path))).faces if f.role == "participant"]
        states = [state_of(f.yaw, f.pitch) for f in faces]
        everyone += states
        poses += [(f.yaw, f.pitch) for f in faces if f.yaw is not None]
        print(f"  {path.name:<26} {len(faces):>2} faces: facing {states.count('facing')}, away {states.count('away')}, "
              f"down {states.count('down')}, no pose {states.count(None)}; attention {attention_of(states):.0%}")
    print(f"  all: attention {attention_of(everyone):.1%} of {len(everyone)} faces")
    alerts_on_calm(poses)


def alerts_on_calm(poses: list[tuple[float, float]], minutes: float = 45.0, every: float = 5.0) -> None:
    """How often the turned-away alert fires on calm material: each student of the real screenshots
    keeps their pose for a 45-minute class, with the frame-to-frame jitter of the detector's
    landmarks (yaw and pitch +/- 5 degrees, the mirror test's spread), through the tracker and the
    default alert rules."""
    from bot.alerts import AlertEngine
    from bot.records import FaceResult, FrameResult, TileResult
    from bot.tracker import Tracker

    tiles = [TileResult((60 * i, 0, 60, 60)) for i in range(len(poses))]
    scores = np.full(7, 0.2 / 6)
    scores[6] = 0.8

    def run(turn: tuple[float, float] | None = None):
        """(share of faces read away, {participant: first turned-away alert time}); `turn`: from
        when to when (minutes) student 0 turns 55 degrees away."""
        rng = np.random.default_rng(0)
        tracker, engine = Tracker(ocr=False), AlertEngine()
        fired: dict[str, float] = {}
        away = total = 0
        for k in range(int(minutes * 60 / every)):
            t = k * every
            faces = []
            for i, (y, p) in enumerate(poses):
                extra = 55.0 if turn and i == 0 and turn[0] * 60 <= t < turn[1] * 60 else 0.0
                faces.append(FaceResult((60 * i + 10, 10, 40, 40), i, None, "participant", 0.9, False, scores,
                                        yaw=y + extra + rng.normal(0, 5), pitch=p + rng.normal(0, 5), roll=0.0))
            rec = tracker.update(FrameResult(t, tiles, faces))
            away += sum(f.attention == "away" for f in rec.faces)
            total += len(rec.faces)
            for a in engine.update(rec):
                if a.rule == "participant_turned_away":
                    fired.setdefault(a.participant, a.time_s)
        return away / total, fired

    share, fired = run()
    print(f"  calm class of the {len(poses)} screenshot students, 45 min at 5 s with landmark jitter "
          f"(+/-5 degrees): {share:.1%} of faces read away; the turned-away alert (default 2 min) fired for "
          f"{len(fired)} of {len(poses)} participants")
    _, fired = run(turn=(20.0, 23.0))
    when = fired.get("tile-0")
    print("  the same class, one student turned 55 degrees away from minute 20 to 23: alerted "
          + (f"at minute {when / 60:.1f}" if when is not None else "never") + f"; others alerted: {len(fired) - (when is not None)}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("CLASSMOOD_POSE_DATA",
                                                                     REPO.parent / "data" / "aflw2000")))
    ap.add_argument("--part", default="template,landmarks,images,galleries")
    args = ap.parse_args()
    parts = args.part.split(",")
    need = args.data / "AFLW2000-3D.pose.npy"
    if any(p in parts for p in ("template", "landmarks", "images")) and not need.exists():
        print(f"{need} not found: see this script's docstring for where the data comes from", file=sys.stderr)
        return 2
    for p in parts:
        {"template": lambda: part_template(args.data), "landmarks": lambda: part_landmarks(args.data),
         "images": lambda: part_images(args.data), "galleries": part_galleries}[p]()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
