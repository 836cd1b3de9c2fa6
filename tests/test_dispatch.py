"""The CPU code path the tests run on.

`make test-portable` runs the unit tests and nbval a second time with the knobs of the
Makefile's PORTABLE_ENV set (and XENT_DISPATCH=portable); these tests make sure the knobs took
effect, so that the portability check cannot silently run the native code path twice.
"""

import os
import platform

import numpy as np
import pytest
import torch

PORTABLE = os.environ.get("XENT_DISPATCH") == "portable"
X86 = platform.machine().lower() in ("x86_64", "amd64")


def numpy_dispatch():
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

    return {name for name in __cpu_dispatch__ if __cpu_features__.get(name)}


def openblas_core():
    from threadpoolctl import threadpool_info

    np.ones((2, 2)) @ np.ones((2, 2))  # load OpenBLAS
    cores = [i.get("architecture") for i in threadpool_info() if i["internal_api"] == "openblas"]
    return cores[0] if cores else None


def test_pytorch_runs_the_expected_kernels():
    capability = torch.backends.cpu.get_cpu_capability()
    if PORTABLE:
        assert capability == "DEFAULT", f"ATEN_CPU_CAPABILITY=default did not apply: {capability}"
    else:
        assert "ATEN_CPU_CAPABILITY" not in os.environ or capability != "DEFAULT"


@pytest.mark.skipif(not X86, reason="NumPy's and OpenBLAS's knobs are set on x86-64 only")
def test_numpy_and_openblas_run_the_expected_kernels():
    if PORTABLE:
        assert not numpy_dispatch() & {"X86_V3", "X86_V4", "AVX512_ICL", "AVX512_SPR"}, (
            f"NPY_DISABLE_CPU_FEATURES did not apply: {numpy_dispatch()}")
        core = openblas_core()
        assert core in (None, "Nehalem"), f"OPENBLAS_CORETYPE did not apply: {core}"
    else:
        # natively NumPy uses whatever the CPU offers beyond its x86-64-v2 baseline
        from numpy._core._multiarray_umath import __cpu_features__

        assert ("X86_V3" in numpy_dispatch()) == bool(__cpu_features__.get("X86_V3"))
