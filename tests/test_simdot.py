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

from coded_reference import bound, coded_sims, codes_of

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


SPLIT_SCRIPT = Path(__file__).parent / "js" / "split_cases.mjs"


def run_split(cases: list[dict], tmp_path: Path) -> list[dict]:
    path = tmp_path / "split.json"
    path.write_text(json.dumps([{"C": c["C"], "n": c["n"], "tokens": c["tokens"], "q": c["query"],
                                 "levels": c.get("levels", 0), "scales": c.get("scales", []),
                                 "v": np.concatenate([c["v"].ravel(), c["t"].ravel()]).tolist()} for c in cases]))
    done = subprocess.run(["node", str(SPLIT_SCRIPT), str(path)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def split_case(rng, C: int, n: int, tokens: int, scale: float = 1.0) -> dict:
    c = case(rng, C, n + tokens, scale=scale)
    v = c["v"]
    source = "tokens" if tokens and rng.random() < 0.5 else "cells"
    index = int(rng.integers(tokens if source == "tokens" else n))
    return {"C": C, "n": n, "tokens": tokens, "v": v[:n], "t": v[n:], "query": {"source": source, "index": index}}


def check_split(c: dict, result: dict) -> None:
    """Both ways bit for bit; within (ceil(C/2)/16 + 20) u sum |q_k v_k| of the exact dot product:
    each half's summation bound over its own terms, plus the rounding of their sum."""
    assert result["worker"]["simd"], "WebAssembly SIMD is not available in this Node"
    for key in ("out", "tokenOut"):
        a = np.array(result["worker"][key], np.float32)
        b = np.array(result["js"][key], np.float32)
        assert a.view(np.uint32).tolist() == b.view(np.uint32).tolist(), key
    out = result["worker"]["out"]
    assert result["worker"]["range"] == [min(out), max(out)]  # the cells' range, read as they are written
    vectors = {"cells": c["v"], "tokens": c["t"]}
    q = vectors[c["query"]["source"]][c["query"]["index"]].view(np.float16).astype(np.float64)
    for key, v in (("out", c["v"]), ("tokenOut", c["t"])):
        got = np.array(result["worker"][key], np.float32)
        for i, row in enumerate(v.view(np.float16).astype(np.float64)):
            terms = q * row
            bound = (math.ceil(c["C"] / 2) / 16 + 20) * U * np.abs(terms).sum()
            assert abs(float(got[i]) - math.fsum(terms)) <= bound, (key, i)


def test_the_channel_split_gives_the_same_bits_on_one_thread_or_through_the_worker(tmp_path):
    rng = np.random.default_rng(1)
    cases = [split_case(rng, C, n, t) for C in (1, 2, 3, 16, 33, 512, 517) for n, t in ((1, 0), (7, 3))]
    cases.append(split_case(rng, 256, 50, 0, scale=200.0))
    for c, result in zip(cases, run_split(cases, tmp_path)):
        check_split(c, result)


@settings(max_examples=15, deadline=None)
@given(C=st.integers(1, 80), n=st.integers(1, 8), tokens=st.integers(0, 3), seed=st.integers(0, 2**32 - 1))
def test_channel_split_any_size(tmp_path_factory, C, n, tokens, seed):
    c = split_case(np.random.default_rng(seed), C, n, tokens)
    check_split(c, run_split([c], tmp_path_factory.mktemp("split"))[0])



def coded(c: dict, signed: bool) -> dict:
    """The case with its float16 vectors (made non-negative unless ``signed``) as 8-bit codes
    (numpy's reference, coded_reference.codes_of); ``x`` keeps their values."""
    words = np.concatenate([c["v"], c["t"]]).reshape(c["n"] + c["tokens"], c["C"])
    if not signed:
        words = words & 0x7FFF
    x = words.view(np.float16).astype(np.float64)
    levels, scales, codes = codes_of(x)
    return {**c, "x": x, "levels": levels, "scales": scales.astype(float).tolist(), "codes": codes, "scales32": scales,
            "v": codes[:c["n"]], "t": codes[c["n"]:]}


def check_codes(c: dict, result: dict) -> None:
    """Both ways, and numpy's reference, bit for bit; and within the quantisation bound of the
    similarity of the float16 values (coded_reference.bound)."""
    qi = c["query"]["index"] + (c["n"] if c["query"]["source"] == "tokens" else 0)
    got = {}
    for key in ("out", "tokenOut"):
        a = np.array(result["worker"][key], np.float32)
        assert a.view(np.uint32).tolist() == np.array(result["js"][key], np.float32).view(np.uint32).tolist(), key
        got[key] = a
    sims = np.concatenate([got["out"], got["tokenOut"]])
    assert sims.view(np.uint32).tolist() == coded_sims(c["scales32"], c["codes"], qi).view(np.uint32).tolist()
    assert (np.abs(sims - c["x"] @ c["x"][qi]) <= bound(c["x"], c["scales32"], c["codes"], qi)).all()


def test_codes_give_the_same_bits_on_one_thread_or_through_the_worker_and_match_numpy(tmp_path):
    rng = np.random.default_rng(2)
    sizes = (1, 2, 3, 16, 31, 32, 33, 63, 512, 517, 2048)  # around the kernel's 32-code step and its tail
    cases = [split_case(rng, C, n, t) for C in sizes for n, t in ((1, 0), (7, 3))]
    cases.append(split_case(rng, 256, 50, 0, scale=200.0))
    cases = [coded(c, signed=i % 3 != 0) for i, c in enumerate(cases)]  # every third unsigned (uint8 codes)
    assert {c["levels"] for c in cases} == {127, 255}
    for c, result in zip(cases, run_split(cases, tmp_path)):
        check_codes(c, result)


@settings(max_examples=15, deadline=None)
@given(C=st.integers(1, 80), n=st.integers(1, 8), tokens=st.integers(0, 3), seed=st.integers(0, 2**32 - 1),
       signed=st.booleans(), scale=st.sampled_from([1e-3, 1.0, 300.0]))
def test_codes_any_size(tmp_path_factory, C, n, tokens, seed, signed, scale):
    c = coded(split_case(np.random.default_rng(seed), C, n, tokens, scale=scale), signed)
    check_codes(c, run_split([c], tmp_path_factory.mktemp("codes"))[0])
