"""Finding the meeting anywhere on screen: real gallery screenshots pasted as a window into desktops
(a wallpaper, other windows, desktop icons, a taskbar, a title bar), and the bot finding a gallery
window on a real (Xvfb) screen without `--region`."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from bot.layout import LayoutMemory, find_tiles, iou as _iou
from tests.conftest import REPO, require
from bot.synthetic import OVERLAYS, controls_over, desktop_with, render_gallery


def _mapped(truth, x0, y0, s):
    return [(int(round(x * s)) + x0, int(round(y * s)) + y0, int(round(w * s)), int(round(h * s))) for x, y, w, h in truth]


def test_galleries_in_windows_are_found_at_every_size_and_place(real_galleries):
    """Each real screenshot as a window 50%, 65% and 80% of the screen's width, at two places: at
    least 95% of its tiles (as found on the screenshot alone) recovered at IoU >= 0.9."""
    found = total = 0
    for g in real_galleries:
        shot = cv2.imread(str(g["path"]))
        truth = [t.box for t in find_tiles(shot)]
        assert len(truth) == g["tiles"], g["file"]  # the screenshot alone: unchanged
        for k, (frac, pos) in enumerate([(0.5, "top-left"), (0.65, "centre"), (0.8, "bottom-left"), (0.5, "top-right")]):
            desk, (x0, y0, s) = desktop_with(shot, frac, pos, seed=k)
            got = [t.box for t in find_tiles(desk)]
            want = _mapped(truth, x0, y0, s)
            found += sum(any(_iou(w, b) >= 0.9 for b in got) for w in want)
            total += len(want)
    assert found >= 0.95 * total, f"{found} of {total} tiles recovered"


def test_a_meeting_on_the_second_of_two_monitors_is_found(real_galleries):
    """Two 1920x1080 monitors captured together (the bot's default): the meeting window on the
    second one, its tiles found at the capture's own resolution."""
    import numpy as np

    found = total = 0
    for g in real_galleries:
        shot = cv2.imread(str(g["path"]))
        truth = [t.box for t in find_tiles(shot)]
        right, (x0, y0, s) = desktop_with(shot, 0.5, "centre", seed=2)
        left, _ = desktop_with(np.full((300, 400, 3), 240, np.uint8), 0.3, "centre", seed=9)
        got = [t.box for t in find_tiles(np.hstack([left, right]))]
        want = [(x + 1920, y, w, h) for x, y, w, h in _mapped(truth, x0, y0, s)]
        found += sum(any(_iou(w, b) >= 0.9 for b in got) for w in want)
        total += len(want)
    assert found >= 0.95 * total, f"{found} of {total}"


def test_a_moved_window_is_found_again_and_a_still_one_costs_no_search(real_galleries):
    g = next(r for r in real_galleries if r["tiles"] >= 16)
    shot = cv2.imread(str(g["path"]))
    memory = LayoutMemory()
    first, (x0, y0, s) = desktop_with(shot, 0.65, "top-left", seed=1)
    a = memory.tiles(first)
    b = memory.tiles(first.copy())
    assert memory.searches == 1 and [t.box for t in a] == [t.box for t in b] and len(a) == g["tiles"]
    moved, (x1, y1, _) = desktop_with(shot, 0.65, "bottom-left", seed=1)
    c = memory.tiles(moved)
    assert memory.searches == 2 and len(c) == g["tiles"]
    assert all(abs((t.box[0] - x1) - (u.box[0] - x0)) <= 2 and abs((t.box[1] - y1) - (u.box[1] - y0)) <= 2
               for t, u in zip(c, a))


def test_a_desktop_without_a_meeting_has_no_grid():
    import numpy as np

    desk, _ = desktop_with(np.full((400, 640, 3), 235, np.uint8), 0.5, "centre", seed=3)  # a blank window
    assert len(find_tiles(desk)) == 1


def _free_display() -> int:
    for n in range(200, 300):
        if not Path(f"/tmp/.X{n}-lock").exists() and not Path(f"/tmp/.X11-unix/X{n}").exists():
            return n
    raise RuntimeError("no free X display number")


def test_the_bot_finds_a_gallery_window_on_a_real_screen(tmp_path, fer_faces):
    """Xvfb shows a desktop whose meeting window holds a 9-tile gallery at 60% of the screen's
    width; the bot, given no region, stores its 9 tiles and their faces."""
    require(shutil.which("Xvfb") is not None, "Xvfb not installed (Debian: xvfb)")
    require(shutil.which("feh") is not None, "feh not installed (Debian: feh)")
    from bot.store import Store

    size = (1600, 900)
    g = render_gallery(fer_faces[120:], 9, size=(1280, 720), seed=8)
    desk, _ = desktop_with(g.image, 0.6, "top-right", seed=5, size=size)
    shown = tmp_path / "desktop.png"
    cv2.imwrite(str(shown), desk)
    n = _free_display()
    xvfb = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", f"{size[0]}x{size[1]}x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = {**os.environ, "DISPLAY": f":{n}"}
    feh = None
    try:
        for _ in range(100):
            if Path(f"/tmp/.X11-unix/X{n}").exists():
                break
            time.sleep(0.05)
        feh = subprocess.Popen(["feh", "--fullscreen", "--hide-pointer", str(shown)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.5)
        db = tmp_path / "bot.db"
        exe = Path(sys.executable).parent / "classmood-bot"
        p = subprocess.run([str(exe), "--db", str(db), "--interval", "2", "--duration", "5", "--session", "window"],
                           env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr[-3000:]
        s = Store(db)
        sid = int(s.sessions().iloc[0]["id"])
        frames = s.frames(sid)
        assert len(frames) >= 2 and (frames["tiles"] == 9).all(), frames
        assert frames["faces"].min() >= 8
        s.close()
    finally:
        if feh is not None:
            feh.terminate()
            feh.wait(5)
        xvfb.terminate()
        xvfb.wait(5)


@pytest.mark.parametrize("n", [6, 9, 13, 16, 25])
def test_tiles_that_touch_are_split_where_one_video_meets_the_next(fer_faces, n):
    """Galleries drawn without gutters (the grid on the meeting's background, tiles touching;
    13: a shorter, centred last row): every tile recovered at IoU >= 0.9."""
    g = render_gallery(fer_faces, n, size=(1280, 720), gap=0, seed=n)
    got = [t.box for t in find_tiles(g.image)]
    assert sum(any(_iou(w, b) >= 0.9 for b in got) for w in g.tiles) == n, (len(got), n)


@pytest.mark.parametrize("size,n", [((1366, 1024), 9), ((1366, 1024), 16), ((768, 1024), 6), ((1024, 768), 6),
                                    ((844, 390), 4)])
@pytest.mark.parametrize("kind", OVERLAYS)
def test_tiles_under_a_toolbar_or_banner_are_found(analyzer, fer_faces, size, n, kind):
    """Tablet and phone layouts: a translucent toolbar across the last row, a notice across the
    first, or both, drawn over the videos. Every tile is recovered at IoU >= 0.9, two-row grids cut
    by both bars too; on the phone's 2x2 with both, no tile is left whole (each bar joins its row's
    tiles, and the toolbar reaches past the grid), and the rows are split at their gutters. There,
    through the analyser, every face drawn is a participant in a tile of its own."""
    g = render_gallery(fer_faces, n, size=size, seed=n)
    img = controls_over(g.image, g.tiles, kind)
    got = [t.box for t in find_tiles(img)]
    assert sum(any(_iou(w, b) >= 0.9 for b in [t.box for t in find_tiles(g.image)]) for w in g.tiles) == n
    assert len(got) <= n   # nothing invented on the bars or the margins
    assert sum(any(_iou(w, b) >= 0.9 for b in got) for w in g.tiles) == n, (kind, len(got))
    if (size, kind) == ((844, 390), "both"):
        analyzer.forget()
        res = analyzer.analyze(img)
        assert len(res.participant_faces) == len(g.faces) and len({f.tile for f in res.participant_faces}) == len(g.faces)
        analyzer.forget()


def test_a_side_panel_beside_the_grid_is_no_tile(fer_faces):
    """The grid is continued only where a cell has gutters round it: a chat panel as tall as the
    grid beside it, light and full of text, gives no tile."""
    g = render_gallery(fer_faces, 9, size=(1366, 768), seed=2)
    img = g.image.copy()
    x0 = max(x + w for x, _, w, _ in g.tiles) + 6
    img[g.tiles[0][1]:g.tiles[-1][1] + g.tiles[-1][3], x0:] = 245
    for y in range(g.tiles[0][1] + 20, g.tiles[-1][1] + g.tiles[-1][3], 22):
        cv2.putText(img, "Ana: is this on the test?", (x0 + 8, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (40, 40, 40), 1)
    got = [t.box for t in find_tiles(controls_over(img, g.tiles, "toolbar"))]
    assert len(got) == 9 and sum(any(_iou(w, b) >= 0.9 for b in got) for w in g.tiles) == 9


def test_never_fewer_tiles_than_faces_when_the_grid_is_not_found(analyzer, fer_faces):
    """Faces with no tiles drawn round them (blended into one busy picture, as a "together" view
    or a layout hidden under controls): the layout finds few or no tiles, and the analyser makes a
    tile for each face, so every face is a participant."""
    import numpy as np

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:130, 0:130]
    mask = np.clip((60 - np.hypot(yy - 65, xx - 65)) / 12, 0, 1)[..., None]
    img = cv2.GaussianBlur(np.clip(rng.normal(120, 30, (720, 1280, 3)), 0, 255).astype(np.uint8), (0, 0), 3)
    k = 0
    for r in range(3):
        for c in range(4):
            face = cv2.cvtColor(cv2.resize(fer_faces[36 + k], (130, 130)), cv2.COLOR_GRAY2BGR).astype(float)
            x, y = int((c + 0.5) * 1280 / 4 - 65), int((r + 0.5) * 720 / 3 - 65)
            img[y:y + 130, x:x + 130] = (face * mask + img[y:y + 130, x:x + 130] * (1 - mask)).astype(np.uint8)
            k += 1
    analyzer.forget()
    res = analyzer.analyze(img)
    assert len(res.faces) >= 10
    assert len(res.tiles) >= len(res.faces) and len(res.participant_faces) == len(res.faces)
    analyzer.forget()
