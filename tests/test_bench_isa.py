"""`bench/isa.py`: the timing of a laptop with AVX2 and no AVX-512/VNNI, on this CPU. Limiting the
kernels must take effect (XNNPACK's flags drop to AVX2 and below) and change no answer."""
# what the kernels cost is bench/classifier.py's to print: no timing here

import json
import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys
sys.path.insert(0, "bench")
flags = None
if sys.argv[1] == "avx2":
    from isa import IsaLimitError, limit_to_avx2, limit_xnnpack_to_avx2
    try:
        note = limit_to_avx2()
    except IsaLimitError as e:
        print(json.dumps({"unsupported": str(e)})); raise SystemExit(0)
    import os
    flags = [int(p, 16) for p in note.split("XNNPACK flags ")[1].split(";")[0].split(" -> ")]
    env = {k: os.environ[k] for k in ("ONEDNN_MAX_CPU_ISA", "OPENCV_CPU_DISABLE", "NPY_DISABLE_CPU_FEATURES")}
else:
    env = {}
import numpy as np
from model import EmotionClassifier
clf = EmotionClassifier.load(backend="litert", threads=1)
faces = np.random.default_rng(3).integers(0, 256, (9, 48, 48), dtype=np.uint8)
probs = clf.predict(faces).tolist()
from isa import int8_gemm_isas, xnnpack_kernels
print(json.dumps({"flags": flags, "env": env, "probs": probs, "int8": int8_gemm_isas(),
                  "f32": [k.split("__")[-1] for k in xnnpack_kernels("f32_gemm") if k.startswith("xnn_f32")]}))
"""


def _run(isa):
    r = subprocess.run([sys.executable, "-c", CHILD, isa], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(sys.platform != "linux" or platform.machine() != "x86_64",
                    reason="limiting XNNPACK's kernels works on Linux x86-64 only")
def test_avx2_kernels_take_effect_and_change_no_answer():
    native, avx2 = _run("native"), _run("avx2")
    if "unsupported" in avx2:  # another ai-edge-litert build: the bench says so instead of guessing
        pytest.skip(f"this ai-edge-litert's XNNPACK is not the layout bench/isa.py verified: {avx2['unsupported']}")
    before, after = avx2["flags"]
    assert after == before & 0xFF and after == 0xFF  # up to AVX2 and FMA3 kept, nothing above them
    assert avx2["env"]["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    # the kernels XNNPACK picked, read back from its tables: AVX2 ones only
    assert avx2["int8"] and all(isa.startswith("avx2") for isa in avx2["int8"]), avx2["int8"]
    assert not any("avx512" in k or "vnni" in k for k in avx2["f32"]), avx2["f32"]
    if "avx512f" in Path("/proc/cpuinfo").read_text():  # and this CPU's own are not
        assert any(isa.startswith("avx512") for isa in native["int8"]), native["int8"]
    a, b = native["probs"], avx2["probs"]
    assert len(a) == len(b) == 9
    # the same int8 model: requantisation may round a last bit differently, never change an answer
    assert max(abs(p - q) for ra, rb in zip(a, b) for p, q in zip(ra, rb)) < 0.01
    assert [r.index(max(r)) for r in a] == [r.index(max(r)) for r in b]


def test_isa_runner_refuses_a_bad_command_line():
    r = subprocess.run([sys.executable, "bench/isa.py", "sse2", "bench/cpu.py"], cwd=ROOT, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and "usage" in r.stderr
    r = subprocess.run([sys.executable, "bench/isa.py", "avx2", "bench/gone.py"], cwd=ROOT, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and "no such script: bench/gone.py" in r.stderr and "Traceback" not in r.stderr
