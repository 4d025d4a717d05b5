"""Batch augmentation on the CPU, fast enough to feed a GPU (no Keras random layers: those ran
~100x slower on the GPU).

`augment_batch` transforms a whole uint8 batch `(B, H, W)`: random horizontal flip, a random affine
warp (rotation, scale, shift; bilinear, edges replicated) and random erasing. Parameters and erasing
masks are drawn for the whole batch at once in numpy; each warp is one `cv2.warpAffine` call
(~12 us per 48x48 face, 12x faster than a numpy gather). `mixup_batch` blends pairs of faces
and their targets, for distillation runs where the teacher labels the blend. `low_res_batch` gives
faces the few pixels a small gallery tile has: shrunk, then enlarged back as the classifier does;
`meeting_batch` adds what a video call and our detector do on top (the detector's framing, light,
defocus and motion blur, JPEG or H.264 at a low bit rate).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class AugmentConfig:
    flip: float = 0.5          # probability of a horizontal flip
    rotate_deg: float = 12.0   # uniform in [-rotate_deg, rotate_deg]
    scale: tuple[float, float] = (0.88, 1.12)
    shift: float = 0.08        # fraction of the side, uniform in [-shift, shift]
    erase: float = 0.4         # probability of erasing one rectangle
    erase_size: tuple[float, float] = (0.15, 0.4)  # side of the rectangle, fraction of the image


def augment_batch(x: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig = AugmentConfig()) -> np.ndarray:
    """Return an augmented float32 copy of `x` (B, H, W), values in 0-255."""
    x = np.asarray(x)
    b, h, w = x.shape
    flip = rng.random(b) < cfg.flip
    theta = np.deg2rad(rng.uniform(-cfg.rotate_deg, cfg.rotate_deg, b))
    scale = rng.uniform(*cfg.scale, b)
    shift = rng.uniform(-cfg.shift, cfg.shift, (b, 2)) * (w, h)

    # Inverse maps (output pixel -> where to read): src = A (dst - c - t) + c, A = R(theta) / scale.
    c = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    cos, sin = np.cos(theta) / scale, np.sin(theta) / scale
    a = np.stack([np.stack([cos, sin], 1), np.stack([-sin, cos], 1)], 1)          # (B, 2, 2)
    offset = c - np.einsum("bij,bj->bi", a, c + shift)                          # (B, 2)
    maps = np.concatenate([a, offset[:, :, None]], axis=2)                      # (B, 2, 3)
    src = x.astype(np.float32)
    src[flip] = src[flip, :, ::-1]
    out = np.empty((b, h, w), np.float32)
    for i in range(b):
        cv2.warpAffine(src[i], maps[i], (w, h), dst=out[i],
                       flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)

    erase_batch(out, rng, cfg.erase, cfg.erase_size)
    return np.clip(out, 0, 255, out=out)


LOW_RES_SIDES = (14, 40)  # a shrunk face's side in pixels: a 7x7 gallery on a small screen or recording


def low_res_batch(x: np.ndarray, rng: np.random.Generator, p: float,
                  sides: tuple[int, int] = LOW_RES_SIDES) -> np.ndarray:
    """In place on a float32 batch `(B, H, W)`: with probability `p` a face is shrunk to a side drawn
    uniformly from `sides` (area averaging, as a small tile's pixels are) and enlarged back to its
    size bilinearly, as `EmotionClassifier.preprocess` enlarges a small crop. Faces seen that way read
    as blurred, and a network that never saw blur reads it as sad (FER2013 val shrunk to 24 px: 34%
    of faces called sad against 19%)."""
    b, h, w = x.shape
    pick = np.flatnonzero(rng.random(b) < p)
    side = rng.integers(sides[0], sides[1] + 1, len(pick))
    for i, s in zip(pick, side):
        small = cv2.resize(x[i], (int(s), int(round(s * h / w))), interpolation=cv2.INTER_AREA)
        x[i] = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    return x


MEETING_SIDES = (14, 48)     # a gallery face's side in pixels, from a 7x7 grid on a laptop to a large tile
MEETING_QUALITY = (10, 60)   # JPEG quality at that size: a video codec at a low bit rate (8x8 blocks, ringing)
MEETING_CRF = (28, 44)       # H.264 (libx264, intra) constant rate factor: a gallery tile's stream at a low bit rate
# The detector's crop against FER2013's framing (python -m training.fit_crop's faces, 600 val faces
# detected at 96-192 px): the crop's side per box width varies by 0.82-1.19x its median and its
# centre by +-6.5% of the side between the 10th and 90th percentiles.
MEETING_REFRAME = (0.82, 1.19)
MEETING_SHIFT = 0.065
GALLERY = 7                  # faces a row in a mosaic the codec sees at once: a 7x7 gallery


def meeting_batch(x: np.ndarray, rng: np.random.Generator, p: float, sides: tuple[int, int] = MEETING_SIDES,
                  quality: tuple[int, int] = MEETING_QUALITY, crf: tuple[int, int] = MEETING_CRF,
                  h264: bool = True) -> np.ndarray:
    """In place on a float32 batch `(B, H, W)`: with probability `p` a face goes through what a video
    call and our detector do to it, in that order:
    - *framing*: re-cropped as the detector crops a face in a frame (`MEETING_REFRAME`, `MEETING_SHIFT`);
    - *light*: gamma 0.6-1.6 (low light, a bright window behind), contrast 0.5-1 about its mean (a
      washed-out camera; the data is gray, so a colour cast reaches it only as this loss of contrast
      and a shifted mean), and for half of them light from one side (a gain rising 0-50% across the
      face in a random direction: a lamp or a window beside the student);
    - *size*: shrunk to a side drawn from `sides` (area averaging, as a tile's pixels are);
    - *blur* at that size, on half of them: defocus (Gaussian, sigma 0.3-1.2 px) or motion (a line of
      2-4 px in a random direction), one or the other;
    - *codec*: half JPEG at a quality drawn from `quality`; the other half H.264 (libx264, intra),
      all in one mosaic of tiles at a constant rate factor drawn from `crf`, as a gallery's stream is
      (`h264=False`: all JPEG, where PyAV is missing);
    - enlarged back bilinearly, as the classifier enlarges a small crop.
    Light is drawn and applied for the batch at once in numpy; the rest is one OpenCV call a step a
    face and one H.264 frame a batch. FER2013 val through 24 px and JPEG quality 30 read 47% of
    neutral faces as angry, disgust, fear or sad (23% shrunk alone)."""
    b, h, w = x.shape
    pick = np.flatnonzero(rng.random(b) < p)
    if not len(pick):
        return x
    n = len(pick)
    x[pick] = reframe_batch(x[pick], rng)
    gamma = np.exp(rng.uniform(np.log(0.6), np.log(1.6), n))[:, None, None]
    contrast = rng.uniform(0.5, 1.0, n)[:, None, None]
    lit = 255.0 * (np.clip(x[pick], 0, 255) / 255.0) ** gamma
    mean = lit.mean(axis=(1, 2), keepdims=True)
    lit = mean + contrast * (lit - mean)
    x[pick] = side_light(lit, rng, p=0.5)
    side = rng.integers(sides[0], sides[1] + 1, n)
    q = rng.integers(quality[0], quality[1] + 1, n)
    blur = rng.random(n)  # < 0.25: defocus, < 0.5: motion, else none
    sigma = rng.uniform(0.3, 1.2, n)
    length = rng.integers(2, 5, n)
    angle = rng.uniform(0, 180, n)
    use_h264 = (rng.random(n) < 0.5) & h264
    rate = int(rng.integers(crf[0], crf[1] + 1))
    small = []
    for k, (i, s) in enumerate(zip(pick, side)):
        f = cv2.resize(np.clip(x[i], 0, 255), (int(s), int(round(s * h / w))), interpolation=cv2.INTER_AREA)
        if blur[k] < 0.25:
            f = cv2.GaussianBlur(f, (0, 0), float(sigma[k]))
        elif blur[k] < 0.5:
            f = cv2.filter2D(f, -1, motion_kernel(int(length[k]), float(angle[k])), borderType=cv2.BORDER_REPLICATE)
        f = np.clip(np.rint(f), 0, 255).astype(np.uint8)
        small.append(f if use_h264[k] else jpeg_roundtrip(f, int(q[k])))
    coded = np.flatnonzero(use_h264)
    if len(coded):
        for k, f in zip(coded, h264_tiles([small[k] for k in coded], rate)):
            small[k] = f
    for i, f in zip(pick, small):
        x[i] = cv2.resize(f.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    return x


def jpeg_roundtrip(face: np.ndarray, quality: int) -> np.ndarray:
    """A uint8 gray face compressed as JPEG at `quality` (1-100) and decoded."""
    ok, buf = cv2.imencode(".jpg", face, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"JPEG could not encode a face of shape {face.shape} at quality {quality}")
    return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)


def reframe_batch(x: np.ndarray, rng: np.random.Generator, scale: tuple[float, float] = MEETING_REFRAME,
                  shift: float = MEETING_SHIFT) -> np.ndarray:
    """Faces `(N, H, W)` re-cropped as the detector frames a face: the crop's side times a factor drawn
    log-uniformly from `scale` (above 1 the face looks smaller), its centre moved by up to `shift` of
    the side each way; edges replicated. A new float32 array."""
    n, h, w = x.shape
    ratio = np.exp(rng.uniform(np.log(scale[0]), np.log(scale[1]), n))
    move = rng.uniform(-shift, shift, (n, 2)) * (w, h)
    c = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    out = np.empty((n, h, w), np.float32)
    for i in range(n):
        m = np.array([[ratio[i], 0.0, c[0] - ratio[i] * c[0] + move[i, 0]],
                      [0.0, ratio[i], c[1] - ratio[i] * c[1] + move[i, 1]]])
        cv2.warpAffine(np.asarray(x[i], np.float32), m, (w, h), dst=out[i],
                       flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
    return out


def side_light(x: np.ndarray, rng: np.random.Generator, p: float = 0.5, gain: float = 0.5) -> np.ndarray:
    """Faces `(N, H, W)` float, a share `p` of them lit from one side: multiplied by a ramp that rises
    linearly by a fraction drawn from 0-`gain` across the face in a random direction, mean kept at 1.
    The same array, clipped to 0-255."""
    n, h, w = x.shape
    lit = rng.random(n) < p
    g = np.where(lit, rng.uniform(0, gain, n), 0.0)[:, None, None]
    theta = rng.uniform(0, 2 * np.pi, n)[:, None, None]
    yy, xx = np.mgrid[-1:1:h * 1j, -1:1:w * 1j]
    ramp = (np.cos(theta) * xx + np.sin(theta) * yy) / 2  # -0.5..0.5 along the direction (at most ~0.71)
    x *= (1 + g * ramp).astype(x.dtype)
    return np.clip(x, 0, 255, out=x)


def motion_kernel(length: int, angle_deg: float) -> np.ndarray:
    """A normalised line kernel `length` px long at `angle_deg` (drawn 8x finer and averaged down,
    so every direction gets the same length): a face that moved while the frame was exposed."""
    size, fine = length | 1, 8
    big = np.zeros((size * fine, size * fine), np.float32)
    c = size * fine / 2
    half = (length - 1) * fine / 2
    dx, dy = half * np.cos(np.deg2rad(angle_deg)), half * np.sin(np.deg2rad(angle_deg))
    cv2.line(big, (int(round(c - dx)), int(round(c - dy))), (int(round(c + dx)), int(round(c + dy))), 1.0, fine)
    k = cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA)
    return k / k.sum()


def h264_tiles(faces: list[np.ndarray], crf: int, per_row: int = GALLERY) -> list[np.ndarray]:
    """Small uint8 gray faces through one H.264 frame (libx264 through PyAV, intra, at constant rate
    factor `crf`: 0 lossless, 51 worst), laid out as gallery tiles `per_row` a row, each in a cell
    the size of the largest with its edges carried to the cell's border. The decoded faces, each its
    own shape. Needs PyAV (`av`), a dependency of the bot; raises RuntimeError without it."""
    if not faces:
        return []
    cell_h = max(f.shape[0] for f in faces)
    cell_w = max(f.shape[1] for f in faces)
    rows = -(-len(faces) // per_row)
    cols = min(per_row, len(faces))
    mosaic = np.zeros((rows * cell_h, cols * cell_w), np.uint8)
    for k, f in enumerate(faces):
        r, c = divmod(k, per_row)
        mosaic[r * cell_h:(r + 1) * cell_h, c * cell_w:(c + 1) * cell_w] = cv2.copyMakeBorder(
            f, 0, cell_h - f.shape[0], 0, cell_w - f.shape[1], cv2.BORDER_REPLICATE)
    decoded = h264_frame(mosaic, crf)
    out = []
    for k, f in enumerate(faces):
        r, c = divmod(k, per_row)
        out.append(decoded[r * cell_h:r * cell_h + f.shape[0], c * cell_w:c * cell_w + f.shape[1]].copy())
    return out


def h264_frame(img: np.ndarray, crf: int) -> np.ndarray:
    """A uint8 gray image encoded as one H.264 intra frame (libx264, 4:2:0, one thread, so the same
    pixels always give the same answer) at constant rate factor `crf`, and decoded."""
    try:
        import av  # PyAV: only the H.264 step needs it (a GPU machine training without it never calls this)
    except ImportError as e:
        raise RuntimeError("the H.264 step of the meeting augmentation needs PyAV: pip install av") from e

    h, w = img.shape
    hh, ww = -(-h // 16) * 16, -(-w // 16) * 16
    frame = cv2.copyMakeBorder(np.ascontiguousarray(img, np.uint8), 0, hh - h, 0, ww - w, cv2.BORDER_REPLICATE)
    buf = io.BytesIO()
    with av.open(buf, "w", format="h264") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = ww, hh, "yuv420p"
        stream.options = {"crf": str(int(crf)), "preset": "veryfast", "tune": "zerolatency",
                          "keyint": "1", "threads": "1"}
        for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="gray")):
            out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    buf.seek(0)
    with av.open(buf, "r", format="h264") as inp:
        decoded = next(inp.decode(video=0)).to_ndarray(format="gray")
    return decoded[:h, :w]


def shrink(x: np.ndarray, side: int, jpeg: int = 0, h264: int = 0) -> np.ndarray:
    """Faces (N, H, W) uint8 as a gallery of `side`-pixel faces gives them: shrunk to `side` (area
    averaging), compressed there as JPEG at quality `jpeg` (0: not) or through H.264 at constant rate
    factor `h264` (0: not; `GALLERY` x `GALLERY` faces a frame, as a gallery's stream carries them,
    `h264_tiles`), and enlarged back bilinearly, as the classifier enlarges a small crop. A new array."""
    if side >= x.shape[1] and not jpeg and not h264:
        return x.copy()

    def small(f):
        f = cv2.resize(f, (side, side), interpolation=cv2.INTER_AREA) if side < x.shape[1] else f
        return jpeg_roundtrip(f, jpeg) if jpeg else f

    faces = [small(f) for f in x]
    if h264:
        step = GALLERY * GALLERY
        faces = [g for i in range(0, len(faces), step) for g in h264_tiles(faces[i:i + step], h264)]
    size = x.shape[1:][::-1]
    return np.stack([cv2.resize(f, size, interpolation=cv2.INTER_LINEAR) for f in faces]) if len(x) else x.copy()


def erase_batch(out: np.ndarray, rng: np.random.Generator, p: float = AugmentConfig.erase,
                size: tuple[float, float] = AugmentConfig.erase_size) -> np.ndarray:
    """Random erasing in place on a float32 batch `(B, H, W)`: with probability `p` a face gets one
    rectangle of uniform noise, each side a fraction `size` of the image's."""
    b, h, w = out.shape
    erase = rng.random(b) < p
    if erase.any():
        idx = np.flatnonzero(erase)
        eh = (rng.uniform(*size, idx.size) * h).astype(int)
        ew = (rng.uniform(*size, idx.size) * w).astype(int)
        y0 = rng.integers(0, h - eh + 1)
        x0 = rng.integers(0, w - ew + 1)
        rows = np.arange(h)[None, :, None]
        cols = np.arange(w)[None, None, :]
        mask = ((rows >= y0[:, None, None]) & (rows < (y0 + eh)[:, None, None])
                & (cols >= x0[:, None, None]) & (cols < (x0 + ew)[:, None, None]))
        noise = rng.uniform(0, 255, (idx.size, h, w)).astype(np.float32)
        out[idx] = np.where(mask, noise, out[idx])
    return out


def mixup_batch(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, alpha: float = 0.4,
                p: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Blend each face with a random partner of the batch: x' = l x + (1 - l) x[j], same for the
    target rows `y` (one-hot or probabilities). l ~ Beta(alpha, alpha), folded to >= 0.5 so the
    first face dominates; a fraction `1 - p` of the faces stays unmixed."""
    b = len(x)
    lam = rng.beta(alpha, alpha, b).astype(np.float32)
    lam = np.maximum(lam, 1 - lam)
    lam[rng.random(b) >= p] = 1.0
    j = rng.permutation(b)
    lx = lam.reshape(b, *([1] * (x.ndim - 1)))
    ly = lam.reshape(b, *([1] * (y.ndim - 1)))
    return (lx * x + (1 - lx) * x[j]).astype(np.float32), (ly * y + (1 - ly) * y[j]).astype(np.float32)
