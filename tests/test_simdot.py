"""The browser's hover kernel (js/lib/simdot.js), run in Node's V8: its WebAssembly SIMD path
and its plain-JS fallback give the same float32 bits, and both are within the float32
summation bound of the exact dot product of the float16 values (math.fsum in Python)."""
from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

SCRIPT = Path(__file__).parent / "js" / "simdot_cases.mjs"
U = 2.0 ** -24  # float32 unit roundoff

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js (installed for the JS build)")


def run(cases: list[dict], tmp_path: Path) -> list[dict]:
    path = tmp_path / "cases.json"
    path.write_text(json.dumps([{"C": c["C"], "n": c["n"], "q": c["q"].tolist(), "v": c["v"].ravel().tolist()}
                                for c in cases]))
    done = subprocess.run(["node", str(SCRIPT), str(path)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def case(rng, C: int, n: int, scale: float = 1.0, zeros: float = 0.3) -> dict:
    """Random halves (normal ones and zeros; the encoder sends no subnormals), as their bits."""
    def halves(shape):
        x = (rng.normal(size=shape) * scale).astype(np.float16)
        x[rng.random(shape) < zeros] = 0
        x[np.abs(x) < 2.0 ** -14] = 0
        return x.view(np.uint16)
    return {"C": C, "n": n, "q": halves(C), "v": halves((n, C))}


def check(c: dict, result: dict) -> None:
    assert result["wasm"]["simd"], "WebAssembly SIMD is not available in this Node"
    wasm, js = np.array(result["wasm"]["out"], np.float32), np.array(result["js"]["out"], np.float32)
    assert wasm.view(np.uint32).tolist() == js.view(np.uint32).tolist()  # bit for bit
    q = c["q"].view(np.float16).astype(np.float64)
    v = c["v"].view(np.float16).astype(np.float64)
    for i in range(c["n"]):
        terms = q * v[i]  # exact: products of halves fit a float64
        exact = math.fsum(terms)
        bound = (c["C"] / 16 + 19) * U * np.abs(terms).sum()
        assert abs(float(wasm[i]) - exact) <= bound, (i, float(wasm[i]), exact, bound)


def test_both_paths_agree_bit_for_bit_and_within_the_bound(tmp_path):
    rng = np.random.default_rng(0)
    cases = [case(rng, C, n) for C in (1, 3, 8, 15, 16, 17, 31, 64, 512, 517) for n in (1, 6)]
    cases += [case(rng, 512, 40, scale=300.0, zeros=0.0), case(rng, 96, 9, scale=1e-3, zeros=0.5)]
    for c, result in zip(cases, run(cases, tmp_path)):
        check(c, result)


@settings(max_examples=20, deadline=None)
@given(C=st.integers(1, 70), n=st.integers(1, 9), seed=st.integers(0, 2**32 - 1),
       scale=st.sampled_from([1e-3, 0.05, 1.0, 40.0]))
def test_any_size_and_magnitude(tmp_path_factory, C, n, seed, scale):
    c = case(np.random.default_rng(seed), C, n, scale=scale)
    check(c, run([c], tmp_path_factory.mktemp("simdot"))[0])
