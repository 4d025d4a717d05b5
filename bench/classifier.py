"""Classifier speed: multiply-adds and ms a face at batch 1, 8 and 49, on this machine's CPU.

    python bench/classifier.py [--model PATH] [--repeats 30] [--threads 2]

Side by side in one run: the served form (the card's LiteRT int8 file in its default views), the
previous four-view form (the same network with the four test-time views: today's architecture, as
shipped until this model), and the original approach (one Keras `predict` call per face, on
TensorFlow). Prints medians and the CPU's vector extensions; targets: <= 120 M multiply-adds a face
as served, <= 2.5 ms a face at batch 49 on 2 cores with AVX2 and no VNNI.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


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
    ap.add_argument("--threads", type=int, default=2, help="LiteRT and TensorFlow threads")
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np

    from cpu import vector_extensions
    from model import EmotionClassifier, TTA_VIEWS

    served = EmotionClassifier.load(args.model, backend="litert", threads=args.threads)
    four = EmotionClassifier.load(served.path, backend="litert", tta=True, threads=args.threads)
    import tensorflow as tf  # the original approach only

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    from model.network import load_keras

    keras_model = load_keras(served.path)
    per_view = served.card.multiply_adds.get("per_view")
    print(f"CPU {vector_extensions()}; {args.threads} threads; median of {args.repeats}")
    print(f"model {served.path.name}: {per_view / 1e6:.1f} M multiply-adds a view; served in {served.views} view(s) "
          f"= {served.multiply_adds / 1e6:.1f} M a face; four-view form {per_view * len(TTA_VIEWS) / 1e6:.1f} M a face")
    print(f"{'path':<46}{'batch':>6}{'ms/call':>10}{'ms/face':>10}")
    rng = np.random.default_rng(0)
    for n in (1, 8, 49):
        faces = rng.integers(0, 256, (n, 48, 48), dtype=np.uint8)
        x = faces[..., None].astype(np.float32)
        rows = [(f"served (LiteRT int8, {served.views} view)", lambda: served.predict(faces)),
                ("previous form (LiteRT int8, 4 views)", lambda: four.predict(faces))]
        rows.append(("original (Keras predict per face, 1 view)",
                     lambda: [keras_model.predict(x[i:i + 1], verbose=0) for i in range(n)]))
        for name, fn in rows:
            ms = median_ms(fn, args.repeats if "original" not in name else max(3, args.repeats // 10))
            print(f"{name:<46}{n:>6}{ms:>10.2f}{ms / n:>10.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
