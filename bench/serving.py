"""Serving cost in a fresh process: import + `EmotionClassifier.load()` + a first predict of 49
faces, the peak resident memory, and whether TensorFlow was imported.

    python bench/serving.py [--model PATH] [--runs 5]

Each run is a new Python process (nothing cached in memory); prints each run and the medians, with
the CPU's vector extensions. Targets: <= 2 s, <= 300 MB peak, TensorFlow never imported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import numpy as np
from model import EmotionClassifier
t_import = time.perf_counter()
clf = EmotionClassifier.load(MODEL)
t_load = time.perf_counter()
probs = clf.predict(np.random.default_rng(0).integers(0, 256, (49, 48, 48), dtype=np.uint8))
t_pred = time.perf_counter()
assert probs.shape == (49, 7)
print(json.dumps({"import_s": t_import - t0, "load_s": t_load - t_import, "predict_s": t_pred - t_load,
                  "total_s": t_pred - t0, "backend": clf.backend, "views": clf.views,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "tensorflow_imported": "tensorflow" in sys.modules, "keras_imported": "keras" in sys.modules}))
"""


def run_once(model: str | None) -> dict:
    code = CHILD.replace("MODEL", repr(model))
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", help="a .keras file (default: the bundled weights)")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    from cpu import vector_extensions

    print(f"CPU {vector_extensions()}")
    runs = [run_once(args.model) for _ in range(args.runs)]
    for r in runs:
        print(f"  import {r['import_s']:.2f} s + load {r['load_s']:.2f} s + first predict (49 faces) "
              f"{r['predict_s']:.2f} s = {r['total_s']:.2f} s; peak {r['peak_rss_mb']:.0f} MB; "
              f"{r['backend']}, {r['views']} view(s); TensorFlow imported: {r['tensorflow_imported']}")
    med = {k: statistics.median(r[k] for r in runs) for k in ("total_s", "peak_rss_mb")}
    print(f"median of {len(runs)}: {med['total_s']:.2f} s, peak {med['peak_rss_mb']:.0f} MB [targets <= 2 s, "
          f"<= 300 MB]; TensorFlow imported in {sum(r['tensorflow_imported'] for r in runs)} of {len(runs)} runs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
