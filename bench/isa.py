"""Time this machine as a laptop with AVX2 and FMA but no AVX-512 and no VNNI.

Most teachers' laptops have AVX2 and FMA and neither AVX-512 nor VNNI, and int8 kernels gain most
from VNNI: a timing taken on a CPU that has it says little about them. `limit_to_avx2()` makes the
libraries that pick their kernels at run time pick the ones such a laptop runs:

- XNNPACK inside ai-edge-litert (the served classifier) has no switch for it. It detects the CPU once
  per process into a flags word; we call its detection first and clear every flag above AVX2
  before any model is loaded (in ai-edge-litert 2.3.0, read from its code: the low byte holds two
  baseline SSE bits, SSSE3, SSE4.1, AVX, F16C, FMA3 and AVX2; the AVX-512, VNNI and AMX families sit
  above it). The symbols are read from the library's ELF symbol table
  (pyelftools), and the layout is checked before anything is written: an ai-edge-litert whose
  XNNPACK differs gets a clear error, never a guess.
- oneDNN in TensorFlow (`ONEDNN_MAX_CPU_ISA`), OpenCV (`OPENCV_CPU_DISABLE`) and NumPy
  (`NPY_DISABLE_CPU_FEATURES`) read environment variables when they are imported.

What this measures: the kernels an AVX2 laptop runs, on this CPU's cores (their clock, caches and
pipelines, not the laptop's). Linux on x86-64 only; on a CPU without AVX-512 it changes nothing.

    python bench/isa.py avx2 bench/gallery.py --part speed    # any bench, on AVX2 kernels

`bench/classifier.py` runs both kernel sets side by side by itself.
"""

from __future__ import annotations

import ctypes
import functools
import importlib
import os
import runpy
import sys
from pathlib import Path

_AVX2_AND_BELOW = 0xFF  # XNNPACK x86 arch flags (this layout): two baseline SSE, SSSE3, SSE4.1, AVX, F16C, FMA3, AVX2
_HW_CONFIG_SIZE = 80  # struct xnn_hardware_config in ai-edge-litert 2.3.0: uarch, arch flags, 8 cache sizes
_FLAGS_OFFSET = 8
_ENV = {
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "OPENCV_CPU_DISABLE": "AVX512F,AVX512-SKX,AVX512-COMMON,AVX512-ICL",
    # NumPy >= 2.4 dispatches on X86_V4 (AVX-512 SKX) and later; older NumPy names the AVX512 ones
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512F AVX512CD AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL AVX512_SPR",
}


class IsaLimitError(RuntimeError):
    """The kernels could not be limited to AVX2 here (and nothing was changed)."""


class _Xnnpack:
    """XNNPACK inside ai-edge-litert: where the library is loaded, and its symbol table."""

    def __init__(self):
        if sys.platform != "linux" or os.uname().machine != "x86_64":
            raise IsaLimitError("limiting XNNPACK's kernels works on Linux x86-64 only")
        try:
            from elftools.elf.elffile import ELFFile
        except ImportError as e:
            raise IsaLimitError("pyelftools is needed to find XNNPACK's symbols: pip install pyelftools") from e
        lite = importlib.import_module("ai_edge_litert.interpreter")  # loads the library
        libs = [p for p in Path(lite.__file__).parent.glob("*common*.so") if p.stat().st_size > 1_000_000]
        if len(libs) != 1:
            raise IsaLimitError(f"expected one XNNPACK library in ai_edge_litert, found {len(libs)}")
        self.lib = libs[0]
        self.funcs: dict[int, str] = {}
        self.objects: dict[str, tuple[int, int]] = {}
        anchor = None
        with open(self.lib, "rb") as f:
            elf = ELFFile(f)
            symtab = elf.get_section_by_name(".symtab")
            if symtab is None:
                raise IsaLimitError(f"{self.lib.name} is stripped: XNNPACK's detection cannot be found")
            for sym in symtab.iter_symbols():
                kind, value = sym["st_info"]["type"], sym["st_value"]
                if kind == "STT_FUNC" and value:
                    self.funcs[value] = sym.name
                elif kind == "STT_OBJECT" and value:
                    self.objects[sym.name] = (value, sym["st_size"])
            for sym in elf.get_section_by_name(".dynsym").iter_symbols():
                if (sym["st_info"]["type"] == "STT_FUNC" and sym["st_info"]["bind"] == "STB_GLOBAL"
                        and sym["st_shndx"] != "SHN_UNDEF" and sym.name):
                    anchor = (sym.name, sym["st_value"])
                    break
        if anchor is None:
            raise IsaLimitError(f"{self.lib.name} exports no function to locate it by")
        handle = ctypes.CDLL(str(self.lib))  # the loaded library: same handle
        self.base = ctypes.cast(getattr(handle, anchor[0]), ctypes.c_void_p).value - anchor[1]

    def function(self, name: str) -> int:
        hits = [addr for addr, n in self.funcs.items() if n == name]
        if len(hits) != 1:
            raise IsaLimitError(f"{self.lib.name}: {len(hits)} functions named {name}, expected one")
        return self.base + hits[0]


@functools.lru_cache(maxsize=1)
def _xnnpack() -> _Xnnpack:
    """The library's symbols, read once a process (its symbol table takes about a second)."""
    return _Xnnpack()


def limit_xnnpack_to_avx2() -> tuple[int, int]:
    """Clear XNNPACK's arch flags above AVX2 in this process; returns (before, after). Call it before
    any LiteRT interpreter is made: XNNPACK picks each operator's kernels once, on first use."""
    xnn = _xnnpack()
    config_addr, config_size = xnn.objects.get("hardware_config", (0, 0))
    if config_size != _HW_CONFIG_SIZE:
        raise IsaLimitError(f"XNNPACK's hardware config is {config_size} bytes here, not the {_HW_CONFIG_SIZE} "
                            "verified: this ai-edge-litert is not supported")
    config = ctypes.CFUNCTYPE(ctypes.c_void_p)(xnn.function("xnn_init_hardware_config"))()
    if config != xnn.base + config_addr:
        raise IsaLimitError("XNNPACK's detection returned an unexpected address: not changed")
    flags = ctypes.c_uint64.from_address(config + _FLAGS_OFFSET)
    before = flags.value
    if before & _AVX2_AND_BELOW != _AVX2_AND_BELOW or before >> 32:
        raise IsaLimitError(f"XNNPACK's flags read {before:#x}, not those of a CPU with AVX2: not changed")
    flags.value = before & _AVX2_AND_BELOW
    return before, flags.value


def xnnpack_kernels(kind: str = "gemm") -> list[str]:
    """The XNNPACK micro-kernels this process has picked so far for operators of `kind` (their names
    end in the instruction set: `..._avx2`, `..._avx512vnni`, `..._fma3_broadcast`): read from the
    kernel tables XNNPACK fills on first use, so call it after a model has run."""
    xnn = _xnnpack()
    found = set()
    for name, (addr, size) in xnn.objects.items():
        if name.endswith("_config") and kind in name and size >= 8:
            for word in (ctypes.c_uint64 * (size // 8)).from_address(xnn.base + addr):
                fn = xnn.funcs.get(word - xnn.base) if word > xnn.base else None
                if fn and "ukernel" in fn:
                    found.add(fn)
    return sorted(found)


def int8_gemm_isas() -> list[str]:
    """The instruction sets of the int8 matrix kernels picked so far, e.g. ['avx2'] or
    ['avx512skx_prfm', 'avx512vnni_prfm']."""
    return sorted({k.split("__", 1)[1] for k in xnnpack_kernels("gemm")
                   if k.startswith("xnn_q") and "gemm_minmax_ukernel" in k and "__" in k})


def limit_to_avx2() -> str:
    """Limit this process to AVX2 kernels: environment variables for libraries not yet imported,
    and XNNPACK's flags. Returns a line saying what was done."""
    late = [m for m in ("tensorflow", "cv2", "numpy") if m in sys.modules]
    os.environ.update(_ENV)
    before, after = limit_xnnpack_to_avx2()
    note = f"XNNPACK flags {before:#x} -> {after:#x}"
    if late:
        note += f"; already imported, so not limited: {', '.join(late)}"
    return note


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] != "avx2":
        print("usage: python bench/isa.py avx2 SCRIPT [ARGS...]", file=sys.stderr)
        return 2
    if not Path(argv[1]).is_file():
        print(f"no such script: {argv[1]}", file=sys.stderr)
        return 2
    try:
        print(f"kernels limited to AVX2: {limit_to_avx2()}", flush=True)
    except IsaLimitError as e:
        print(f"cannot limit the kernels to AVX2: {e}", file=sys.stderr)
        return 1
    sys.argv = argv[1:]
    runpy.run_path(argv[1], run_name="__main__")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
