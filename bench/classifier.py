"""Classifier speed: ms per face at batch 1, 8 and 49, on this machine's CPU threads.

    python bench/classifier.py [--model PATH] [--repeats 30] [--threads 2]

Compares, side by side in one run: the original approach (one Keras `predict` call per face), one
eager `model(batch)` call, and `EmotionClassifier.predict` as served (the LiteRT int8 form, with its
four test-time views) and on the `.keras` file (a traced tf.function), each with and without TTA.
Prints medians; target: <= 1 ms/face at batch 49 on 2 cores, for the served path.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def median_ms(fn, repeats: int) -> float:
    fn()  # warm up (tracing, allocation)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", help="a .keras file (default: the bundled weights)")
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2, help="TensorFlow intra/inter-op threads")
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    from model import EmotionClassifier

    served = EmotionClassifier.load(args.model, threads=args.threads)
    on_keras = EmotionClassifier.load(args.model, backend="keras")
    rng = np.random.default_rng(0)
    print(f"model {served.path.name} ({served.model.count_params():,} parameters), served by {served.backend}, "
          f"{args.threads} threads, median of {args.repeats}")
    print(f"{'path':<40}{'batch':>6}{'ms/call':>10}{'ms/face':>10}")
    for n in (1, 8, 49):
        faces = rng.integers(0, 256, (n, 48, 48), dtype=np.uint8)
        x = faces[..., None].astype(np.float32)
        rows = [(f"predict, served ({served.backend}, 4-view TTA)", lambda: served.predict(faces)),
                (f"predict, served ({served.backend}), tta=False", lambda: served.predict(faces, tta=False)),
                ("predict, keras, 4-view TTA", lambda: on_keras.predict(faces)),
                ("predict, keras, tta=False", lambda: on_keras.predict(faces, tta=False)),
                ("eager model(batch)", lambda: on_keras.model(x, training=False))]
        if n == 49:
            rows.append(("per-face model.predict (original)",
                         lambda: [on_keras.model.predict(x[i:i + 1], verbose=0) for i in range(n)]))
        for name, fn in rows:
            ms = median_ms(fn, args.repeats if "original" not in name else max(3, args.repeats // 10))
            print(f"{name:<40}{n:>6}{ms:>10.2f}{ms / n:>10.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
