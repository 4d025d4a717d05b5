"""The CPU's vector extensions, for every timing a bench prints (int8 and float speed differ by
far between CPUs with and without AVX-512/VNNI)."""

from __future__ import annotations

import os
import platform

_NAMES = {"avx2": "AVX2", "fma": "FMA", "avx512f": "AVX-512F", "avx512_vnni": "AVX-512 VNNI",
          "avx_vnni": "AVX-VNNI", "avx512_bf16": "AVX-512 BF16", "amx_int8": "AMX-INT8",
          "asimd": "NEON", "asimddp": "NEON dot product", "neon": "NEON"}


def vector_extensions() -> str:
    """e.g. 'x86_64, 2 cores: AVX2 FMA, no AVX-512, no VNNI' (Linux reads /proc/cpuinfo; elsewhere
    the machine type only)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    flags: set[str] = set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith(("flags", "features")):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        return f"{platform.machine()}, {cores} cores: extensions unknown on {platform.system()}"
    have = [label for key, label in _NAMES.items() if key in flags]
    if platform.machine() in ("x86_64", "AMD64"):
        if "avx512f" not in flags:
            have.append("no AVX-512")
        if not {"avx512_vnni", "avx_vnni"} & flags:
            have.append("no VNNI")
    return f"{platform.machine()}, {cores} cores: {' '.join(have) or 'no vector extensions listed'}"


if __name__ == "__main__":
    print(vector_extensions())
