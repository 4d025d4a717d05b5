"""Frame sources. Each yields `bot.records.Frame`s (time, image, file, new scene) into the one pipeline.

- `ScreenSource`: the screen through mss (Windows, macOS, X11; on Wayland run the meeting app under
  XWayland), a whole monitor or a region `x,y,w,h`, every `interval` seconds of wall time.
- `VideoSource`: any video file FFmpeg (through PyAV) or OpenCV reads, one frame every `every`
  seconds of video time, decoding only what the samples need and ahead of the analysis.
- `ImageSource`: one image file or a folder searched recursively.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from bot.records import Frame

log = logging.getLogger("classmood.sources")

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


class SourceError(RuntimeError):
    """The source cannot be read at all (missing file, no display, undecodable video), or the
    options asked of it make no sense (a sampling interval that is not a positive number)."""


def check_seconds(value: float, what: str) -> float:
    """`value` as a float when it is a finite number of seconds above 0, else a SourceError."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise SourceError(f"{what} must be a number of seconds, got {value!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise SourceError(f"{what} must be a finite number of seconds above 0, got {value}")
    return v


# A picture larger than this is refused from its header, before it is decoded: a 3 MB PNG can
# hold 32000x32000 pixels, 3 GB once decoded (measured: 157 s and 6.6 GB before this check).
MAX_IMAGE_PIXELS = 50_000_000


def image_size(data: np.ndarray | bytes) -> tuple[int, int] | None:
    """(width, height) from an image file's header, without decoding it (Pillow reads headers
    lazily); None where the format is not known to it."""
    import io
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's own "decompression bomb" warning: we decide here
            with Image.open(io.BytesIO(bytes(data))) as im:
                return int(im.size[0]), int(im.size[1])
    except Image.DecompressionBombError as e:  # over Pillow's own limit (179 megapixels): over ours too
        raise ValueError(" ".join(str(e).split(",")[0].split())) from None
    except Exception:  # noqa: BLE001 - not an image Pillow knows: OpenCV decides below
        return None


def read_image(path: str | Path) -> np.ndarray:
    """A BGR image from a file, or SourceError saying why not."""
    import cv2

    p = Path(path)
    if not p.is_file():
        raise SourceError(f"{p}: no such file")
    data = np.fromfile(p, dtype=np.uint8)  # works with non-ASCII paths on Windows too
    try:
        size = image_size(data)
    except ValueError as e:
        raise SourceError(f"{p}: {e}: over the limit of {MAX_IMAGE_PIXELS // 10 ** 6} megapixels a picture; "
                          f"scale it down first") from None
    if size is not None and size[0] * size[1] > MAX_IMAGE_PIXELS:
        raise SourceError(f"{p}: {size[0]}x{size[1]} pixels is over the limit of {MAX_IMAGE_PIXELS // 10 ** 6} "
                          f"megapixels a picture (three 4K screens side by side are 25): scale it down first")
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None or img.size == 0:
        raise SourceError(f"{p}: empty or not a readable image")
    return img


class ImageSource:
    """A file or a folder (recursively: jpg, jpeg, png, bmp, tif, tiff, webp). Every image has
    time 0.0; a folder's pictures are unrelated (`new_scene`) and carry their path (`file`).
    Unreadable files in a folder are skipped with a warning; an unreadable single file is a
    `SourceError`."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self.path.is_dir():
            self.files = sorted(p for p in self.path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not self.files:
                raise SourceError(f"{self.path}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
        elif self.path.is_file():
            self.files = [self.path]
        else:
            raise SourceError(f"{self.path}: no such file or folder")

    def __len__(self) -> int:
        return len(self.files)

    def __iter__(self) -> Iterator[Frame]:
        folder = self.path.is_dir()
        for f in self.files:
            try:
                image = read_image(f)
            except SourceError as e:
                if len(self.files) == 1:
                    raise
                log.warning("skipping %s", e)
                continue
            yield Frame(0.0, image, str(f) if folder else None, new_scene=folder)


class VideoSource:
    """Frames of a video file every `every` seconds of video time, each with its true time in the
    video (its presentation time, so variable-frame-rate recordings keep their clock).

    Decoded with PyAV (FFmpeg) where it is installed, else with OpenCV. With PyAV only what is
    sampled pays in full: frames between samples are decoded without colour conversion, frames no
    other frame refers to are not decoded at all, and a gap longer than the keyframe interval is
    crossed by seeking to the keyframe before the next sample. Decoding runs ahead in a thread
    (`prefetch` frames), so it overlaps with the analysis of the previous frame. `threads`: the
    decoder's threads (0: FFmpeg's choice). A damaged stretch in the middle is skipped with a
    warning; the frames after it are still read."""

    SEEK_AFTER_FRAMES = 48  # OpenCV: beyond this many frames between samples, seek rather than decode
    NEAR_FRAMES = 2         # PyAV: packets this close before a sample are decoded in full

    def __init__(self, path: str | Path, every: float = 2.0, *, backend: str = "auto", threads: int = 0,
                 prefetch: int = 2):
        self.path = Path(path)
        if not self.path.is_file():
            raise SourceError(f"{self.path}: no such file")
        self.every = check_seconds(every, "the sampling interval (--every)")
        if backend not in ("auto", "pyav", "opencv"):
            raise ValueError(f"backend must be auto, pyav or opencv, got {backend!r}")
        self.threads, self.prefetch = int(threads), max(0, int(prefetch))
        self.backend = "opencv"
        if backend in ("auto", "pyav") and _has_pyav():
            try:
                self._probe_pyav()
                self.backend = "pyav"
            except SourceError:
                if backend == "pyav":
                    raise
        elif backend == "pyav":
            raise SourceError("the pyav backend needs the 'av' package: pip install av")
        if self.backend == "opencv":
            self._probe_opencv()
        if not 0 < self.fps < 1000:
            self.fps = 25.0
            log.warning("%s: no usable frame rate in the file, assuming 25 fps", self.path)
        if self.every < 1 / self.fps - 1e-9:
            raise SourceError(f"the sampling interval (--every) must be at least one frame of {self.path.name} "
                              f"(1/{self.fps:g} fps = {1 / self.fps:.3g} s), got {every}")

    def _probe_opencv(self) -> None:
        import cv2

        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            raise SourceError(f"{self.path}: not a video OpenCV can open (corrupt or unsupported format)")
        self.fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
        self.frame_count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        ok, _ = cap.read()
        cap.release()
        if not ok:
            raise SourceError(f"{self.path}: no frame could be decoded (corrupt or empty video)")

    def _probe_pyav(self) -> None:
        import av

        try:
            with av.open(str(self.path)) as c:
                if not c.streams.video:
                    raise SourceError(f"{self.path}: no video stream in this file")
                st = c.streams.video[0]
                rate = st.average_rate or st.guessed_rate or 0
                self.fps = float(rate) if rate else 0.0
                duration = (float(st.duration * st.time_base) if st.duration and st.time_base
                            else (c.duration / 1e6 if c.duration else 0.0))
                self.frame_count = int(st.frames) if st.frames else int(round(duration * self.fps))
                if next(iter(c.decode(st)), None) is None:
                    raise SourceError(f"{self.path}: no frame could be decoded (corrupt or empty video)")
        except SourceError:
            raise
        except (av.FFmpegError, OSError, StopIteration) as e:
            raise SourceError(f"{self.path}: not a video that can be opened (corrupt or unsupported format: "
                              f"{e})") from None

    @property
    def duration_s(self) -> float:
        return self.frame_count / self.fps if self.frame_count > 0 else 0.0

    def __len__(self) -> int:
        """Number of samples (an estimate when the container does not state its frame count)."""
        if self.frame_count <= 0:
            return 0
        step = self.every * self.fps
        return sum(1 for k in range(int(self.frame_count / step) + 2) if round(k * step) < self.frame_count)

    def __iter__(self) -> Iterator[Frame]:
        frames = self._checked_end(self._pyav_frames() if self.backend == "pyav" else self._opencv_frames())
        return _read_ahead(frames, self.prefetch) if self.prefetch else frames

    def _checked_end(self, frames: Iterator[tuple[float, np.ndarray]]) -> Iterator[Frame]:
        """`frames` as `Frame`s, with a warning where they end well before the duration the file states (a
        recording cut off while it was copied or uploaded): what was read is analysed all the
        same. `ended_early_at`: the video time reached then (None: it ran to its end)."""
        self.ended_early_at = None
        last = None
        for t, frame in frames:
            last = t
            yield Frame(t, frame)
        reached = 0.0 if last is None else float(last)
        if self.duration_s > 0 and reached < self.duration_s - max(2 * self.every, 1.0):
            self.ended_early_at = reached
            log.warning("%s ends at %s of the %s it says it lasts: the file is truncated or damaged; "
                        "what could be read is analysed", self.path, _clock(reached), _clock(self.duration_s))

    def _pyav_frames(self) -> Iterator[tuple[float, np.ndarray]]:
        import av

        half = 0.5 / self.fps
        with av.open(str(self.path)) as c:
            st = c.streams.video[0]
            st.thread_type = "AUTO"
            if self.threads:
                st.codec_context.thread_count = self.threads
            tb = float(st.time_base)
            origin = st.start_time or 0
            want = {"t": 0.0, "seek": None}  # the next sample's time; a time to seek to first
            count = [0]                      # frames decoded (the clock of a stream without timestamps)

            def frames():
                """Decoded frames in order (t, frame); packets long before the next sample skip
                the frames no other frame refers to."""
                while True:
                    if want["seek"] is not None:
                        c.seek(int(round(want["seek"] / tb)) + origin, stream=st, backward=True, any_frame=False)
                        want["seek"] = None
                    for packet in c.demux(st):
                        if packet.pts is not None:
                            near = (packet.pts - origin) * tb >= want["t"] - (self.NEAR_FRAMES + 0.5) / self.fps
                            st.codec_context.skip_frame = "DEFAULT" if near else "NONREF"
                        try:
                            decoded = packet.decode()
                        except av.EOFError:
                            return
                        except av.FFmpegError as e:
                            log.warning("%s: skipping a damaged packet (%s)", self.path, e)
                            continue
                        for frame in decoded:
                            count[0] += 1
                            if frame.pts is not None:
                                yield (frame.pts - origin) * tb, frame
                            else:  # a raw stream without timestamps: its frame count is its clock
                                yield (count[0] - 1) / self.fps, frame
                        if want["seek"] is not None:
                            break  # the consumer asked for a seek: demux again from there
                    else:
                        return

            k, keys = 0, []  # next sample number; keyframe times seen (their spacing says when seeking pays)
            last = None
            want["t"] = 0.0
            for t, frame in frames():
                if frame.key_frame and (not keys or t > keys[-1]):
                    keys.append(t)
                last = t
                if t < want["t"] - half:
                    continue
                yield round(t, 3), frame.to_ndarray(format="bgr24")
                k = max(k + 1, int(math.floor((t + half) / self.every)) + 1)
                want["t"] = k * self.every
                if self.frame_count and round(want["t"] * self.fps) >= self.frame_count:
                    return
                gop = max((b - a for a, b in zip(keys, keys[1:])), default=None)
                if gop is not None and want["t"] - last > gop + 2 * half:
                    want["seek"] = want["t"]  # the keyframe before the next sample lies ahead of us

    def _opencv_frames(self) -> Iterator[tuple[float, np.ndarray]]:
        import cv2

        cap = cv2.VideoCapture(str(self.path))
        step = self.every * self.fps
        seek = step > self.SEEK_AFTER_FRAMES
        try:
            index, k = 0, 0  # index: next frame the decoder returns; k: next sample number
            while True:
                target = int(round(k * step))
                if self.frame_count and target >= self.frame_count:
                    break
                if seek and target > index:
                    cap.set(cv2.CAP_PROP_POS_FRAMES, target)
                    index = target
                while index < target:
                    if not cap.grab():
                        return
                    index += 1
                ok, frame = cap.read()
                if not ok or frame is None:
                    return
                index += 1
                yield round(target / self.fps, 3), frame
                k += 1
        finally:
            cap.release()


def _clock(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}:{s:02d}"


def _has_pyav() -> bool:
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


def _read_ahead(frames: Iterator, depth: int) -> Iterator:
    """`frames` produced in a thread, up to `depth` ahead of the consumer (decoding overlaps the
    analysis: FFmpeg and OpenCV release the GIL). Errors reach the consumer; closing the consumer
    stops the thread."""
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce():
        try:
            for item in frames:
                while not stop.is_set():
                    try:
                        q.put(("item", item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(("end", done))
        except BaseException as e:  # handed to the consumer
            q.put(("error", e))
        finally:
            close = getattr(frames, "close", None)
            if close:
                close()

    thread = threading.Thread(target=produce, name="classmood-decode", daemon=True)
    thread.start()
    try:
        while True:
            kind, item = q.get()
            if kind == "item":
                yield item
            elif kind == "error":
                raise item
            else:
                return
    finally:
        stop.set()
        thread.join(timeout=5)


def parse_region(text: str) -> tuple[int, int, int, int]:
    """'x,y,w,h' -> a tuple of ints (w, h > 0)."""
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise SourceError(f"region must be x,y,w,h in pixels, got {text!r}") from None
    if w <= 0 or h <= 0:
        raise SourceError(f"region width and height must be positive, got {text!r}")
    return x, y, w, h


class ScreenSource:
    """The screen through mss: monitor `monitor` (1 = the first; 0 = all monitors together) or a
    `region` (x, y, w, h) in screen coordinates, which must lie on the screen. On HiDPI screens mss
    returns physical pixels: `scale` tells the ratio of captured pixels to screen coordinates.

    Captures stay on a grid of `interval` seconds from the start (wall clock): after a slow frame the
    ticks it missed are skipped, never made up in a burst, so `time_s` strictly increases and lies
    on the grid. With `duration`, no capture starts at or after `duration` seconds and the source
    ends at `duration` (or, after a frame that ran past it, at once). `clock` and `sleep` are for tests."""

    def __init__(self, monitor: int = 1, region: tuple[int, int, int, int] | None = None,
                 interval: float = 5.0, duration: float | None = None, display: str | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self.interval = check_seconds(interval, "the capture interval (--interval)")
        self.duration = None if duration is None else check_seconds(duration, "the duration (--duration)")
        import mss

        try:
            self._mss = mss.MSS(display=display) if display else mss.MSS()
            monitors = self._mss.monitors
        except Exception as e:  # mss raises ScreenShotError (or OSError) without a display
            raise SourceError(f"no display to capture ({e}). On Linux set DISPLAY to an X11 display; on "
                              "Wayland run the meeting under XWayland; on macOS allow Screen Recording") from e
        if region is not None:
            x, y, w, h = region
            self.area = {"left": x, "top": y, "width": w, "height": h}
            screen = monitors[0]
            if (x < screen["left"] or y < screen["top"] or x + w > screen["left"] + screen["width"]
                    or y + h > screen["top"] + screen["height"]):
                self.close()
                raise SourceError(f"region {x},{y},{w},{h} is not on the screen (x {screen['left']}.."
                                  f"{screen['left'] + screen['width']}, y {screen['top']}.."
                                  f"{screen['top'] + screen['height']})")
        else:
            if not 0 <= monitor < len(monitors):
                self.close()
                raise SourceError(f"monitor {monitor} does not exist: {len(monitors) - 1} monitor(s), "
                                  "1 is the first, 0 all together")
            self.area = dict(monitors[monitor])
        self.scale = 1.0
        self.stopped = False
        self._clock, self._sleep = clock, sleep

    def grab(self) -> np.ndarray:
        """One capture as a BGR array."""
        shot = self._mss.grab(self.area)
        frame = np.asarray(shot)[:, :, :3]  # BGRA -> BGR
        self.scale = frame.shape[1] / max(1, self.area["width"])
        return np.ascontiguousarray(frame)

    def stop(self) -> None:
        self.stopped = True

    def __iter__(self) -> Iterator[Frame]:
        t0 = self._clock()
        k = 0  # the tick being captured: time k * interval
        while not self.stopped:
            now = self._clock() - t0
            if self.duration is not None and now >= self.duration:
                return
            try:
                frame = self.grab()
            except Exception as e:  # transient: a display hiccup, a monitor unplugged
                log.warning("screen capture failed (%s); trying again next interval", e)
                frame = None
            if frame is not None:
                yield Frame(round(now, 3), frame)
            # The next tick strictly after now: ticks missed while the frame was analysed are skipped.
            k = max(k + 1, math.floor((self._clock() - t0) / self.interval) + 1)
            wake = k * self.interval
            if self.duration is not None and wake >= self.duration:
                wake = self.duration  # no capture left: the session still lasts its duration
            while not self.stopped:  # sleep in slices so stop() is prompt
                wait = t0 + wake - self._clock()
                if wait <= 0:
                    break
                self._sleep(min(wait, 0.2))

    def close(self) -> None:
        try:
            self._mss.close()
        except Exception:
            pass
