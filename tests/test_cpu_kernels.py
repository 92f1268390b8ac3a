"""The numerically sensitive tests, rerun on every CPU kernel set this machine has.

PyTorch picks its CPU kernels at start-up from the instruction sets the processor offers
(``default``, ``avx2``, ``avx512`` on x86), and the kernel sets vectorise and block their
sums differently, so the same float32 computation rounds differently on each. A tolerance
read off one machine can therefore fail on another: a batched-vs-unbatched comparison that
passed with AVX2 kernels failed with AVX-512 ones. The tests compare such results in float64
or with tolerances derived from the computation (``float_bounds.py``), and this module proves
those on the kernel sets at hand: it reruns the modules that compare computed maps and
scores, in a fresh interpreter with ``ATEN_CPU_CAPABILITY`` set to ``default`` and to
``avx2`` (the main run already covers the machine's best set natively; a set the processor
lacks falls back to the best it has, so the rerun still passes there).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent

# Modules whose assertions compare float results of different kernel paths: batched vs one at
# a time, a hand formula or numpy reference vs the library, float32 vs float64. Browser and
# notebook tests are left out (no numerics of their own), and so is the one statistical test
# that runs for minutes (a failure rate over 100 digits, with a 10 % margin).
MODULES = [
    "test_morph_method.py",
    "test_similarity.py",
    "test_attribution.py",
    "test_lrp.py",
    "test_perturbation.py",
    "test_metrics.py",
    "test_factorize.py",
    "test_projection.py",
    "test_grid.py",
    "test_featurevis.py",
    "test_transforms.py",
    "test_scan.py",
    "test_features.py",
    "test_sweep_widget.py",
]
DESELECT = ["tests/test_morph_method.py::test_semantic_morphing_reaches_the_second_class_on_100_held_out_digits"]


def _capability(env: dict) -> str:
    out = subprocess.run([sys.executable, "-c", "import torch; print(torch.backends.cpu.get_cpu_capability())"],
                         env=env, capture_output=True, text=True, timeout=300)
    return out.stdout.strip() or out.stderr.strip()[-500:]


@pytest.mark.parametrize("capability", ["default", "avx2"])
def test_numerically_sensitive_modules_pass_on_kernel_set(capability):
    env = {**os.environ, "ATEN_CPU_CAPABILITY": capability}
    env.pop("PYTEST_ADDOPTS", None)  # the rerun's options are the ones below, whatever the outer run was given
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *(f"tests/{m}" for m in MODULES),
               *(arg for test in DESELECT for arg in ("--deselect", test))]
    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    tail = "\n".join((run.stdout + run.stderr).splitlines()[-60:])
    assert run.returncode == 0, (
        f"ATEN_CPU_CAPABILITY={capability} (torch reports {_capability(env)!r}): "
        f"{' '.join(command[1:])} exited {run.returncode}\n{tail}"
    )
