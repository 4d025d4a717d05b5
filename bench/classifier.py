"""Classifier speed: multiply-adds and ms a face at batch 1, 8 and 49, on this machine's CPU, with
its own kernels and with the kernels of a laptop that has AVX2 and FMA but no AVX-512 and no VNNI.

    python bench/classifier.py [--model PATH] [--repeats 30] [--threads 2] [--isa both|native|avx2]
                               [--rounds 2]

Side by side in one run: the served form (the card's LiteRT int8 file in its default views; also
calibrated by face size, as the observer serves gallery faces, and without its calibration step, to
show what each costs), the mask check the observer runs on the same crops (`model.mask`, float32,
one thread), the previous four-view form (the same
network with the four test-time views: today's architecture, as shipped until this model), and the
original approach (one Keras `predict` call per face, on
TensorFlow). Each kernel set runs in its own process (XNNPACK picks its kernels once a process; see
`bench/isa.py` for how they are limited to AVX2), the two alternate for `--rounds` rounds, and the
figures are medians. Targets: <= 120 M multiply-adds a face as served, <= 2.5 ms a face at batch 49
on 2 cores with AVX2 and no VNNI.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

BATCHES = (1, 8, 49)
PATHS = ("served", "by size", "uncalibrated", "mask check", "four-view", "original")


def median_ms(fn, repeats: int) -> float:
    fn()  # warm up (tracing, allocation)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def measure(model: str | None, repeats: int, threads: int, isa: str) -> dict:
    """One process's figures: {"note", "views", "per_view", "served_macs", "ms": {path: {batch: ms a call}}}."""
    note = "this CPU's own kernels"
    if isa == "avx2":
        from isa import IsaLimitError, limit_to_avx2

        try:
            note = "AVX2 kernels (" + limit_to_avx2() + ")"
        except IsaLimitError as e:  # not Linux x86-64, or another ai-edge-litert build
            return {"unsupported": str(e)}
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np

    from model import EmotionClassifier

    served = EmotionClassifier.load(model, backend="litert", threads=threads)
    from model.mask import MaskCheck

    masks = MaskCheck.load()
    four = EmotionClassifier.load(served.path, backend="litert", tta=True, threads=threads)
    import tensorflow as tf  # the original approach only

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    from model.network import load_keras

    keras_model = load_keras(served.path)
    rng = np.random.default_rng(0)
    ms: dict[str, dict[int, float]] = {p: {} for p in PATHS}
    for n in BATCHES:
        faces = rng.integers(0, 256, (n, 48, 48), dtype=np.uint8)
        x = faces[..., None].astype(np.float32)
        ms["served"][n] = median_ms(lambda: served.predict(faces), repeats)
        sides = rng.uniform(14, 60, n)  # a gallery's faces: the calibration by size and the sharpness read
        ms["by size"][n] = median_ms(lambda: served.predict(faces, sides=sides), repeats)
        ms["uncalibrated"][n] = median_ms(lambda: served.predict(faces, calibrated=False), repeats)
        ms["mask check"][n] = median_ms(lambda: masks(faces), repeats)
        ms["four-view"][n] = median_ms(lambda: four.predict(faces), repeats)
        ms["original"][n] = median_ms(lambda: [keras_model.predict(x[i:i + 1], verbose=0) for i in range(n)],
                                      max(3, repeats // 10))
    from isa import IsaLimitError, int8_gemm_isas

    try:
        note += "; int8 matrix kernels: " + ", ".join(int8_gemm_isas())
    except IsaLimitError as e:
        note += f"; kernels not read ({e})"
    return {"note": note, "views": served.views, "per_view": served.card.multiply_adds.per_view,
            "served_macs": served.multiply_adds, "mask_macs": masks.multiply_adds, "path": served.path.name, "ms": ms}


def run_child(args, isa: str) -> dict:
    cmd = [sys.executable, __file__, "--child", isa, "--repeats", str(args.repeats), "--threads", str(args.threads)]
    if args.model:
        cmd += ["--model", args.model]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"the {isa} run failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", help="a .keras file (default: the bundled weights)")
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2, help="LiteRT and TensorFlow threads")
    ap.add_argument("--isa", choices=("both", "native", "avx2"), default="both",
                    help="this CPU's kernels, AVX2 ones (as on a laptop without AVX-512/VNNI), or both side by side")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds of each kernel set")
    ap.add_argument("--child", choices=("native", "avx2"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(args.model, args.repeats, args.threads, args.child)))
        return 0
    from cpu import vector_extensions

    isas = ("native", "avx2") if args.isa == "both" else (args.isa,)
    runs: dict[str, list[dict]] = {isa: [] for isa in isas}
    for _ in range(args.rounds):
        for isa in isas:
            runs[isa].append(run_child(args, isa))
    for isa in [i for i in isas if "unsupported" in runs[i][0]]:
        print(f"no {isa} figures: {runs[isa][0]['unsupported']}")
        isas = tuple(i for i in isas if i != isa)
    if not isas:
        return 1
    first = runs[isas[0]][0]
    print(f"CPU {vector_extensions()}; {args.threads} threads; median of {args.repeats} calls a run, "
          f"then of {args.rounds} alternating runs a kernel set")
    for isa in isas:
        print(f"  {isa}: {runs[isa][0]['note']}")
    per_view = first["per_view"]
    print(f"model {first['path']}: {per_view / 1e6:.1f} M multiply-adds a view; served in {first['views']} view(s) "
          f"= {first['served_macs'] / 1e6:.1f} M a face; four-view form {per_view * 4 / 1e6:.1f} M a face")
    names = {"served": f"served (LiteRT int8, {first['views']} view)",
             "by size": "... calibrated by face size (observer)",
             "uncalibrated": "... without its calibration step",
             "mask check": f"mask check ({first['mask_macs'] / 1e6:.1f} M multiply-adds a face)",
             "four-view": "previous form (LiteRT int8, 4 views)",
             "original": "original (Keras predict per face, 1 view)"}
    print(f"{'path':<44}{'batch':>6}" + "".join(f"{isa + ' ms/face':>18}" for isa in isas))
    for path in PATHS:
        for n in BATCHES:
            cells = [statistics.median(r["ms"][path][str(n)] for r in runs[isa]) / n for isa in isas]
            print(f"{names[path]:<44}{n:>6}" + "".join(f"{c:>18.3f}" for c in cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
