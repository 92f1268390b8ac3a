"""Shared fixtures."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import torch
from hypothesis import settings

from toy_models import SharedReLUNet

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def _cache_root(tmp_path_factory):
    return tmp_path_factory.mktemp("xw-cache")


@pytest.fixture(autouse=True)
def isolated_cache(_cache_root, request, monkeypatch):
    """Results cached on disk by default (scans, PatternNet's patterns) go to a folder of this test's
    own (``$XAI_WIDGETS_CACHE``), never to ``~/.cache``, and no test reads another's."""
    folder = _cache_root / hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:16]
    monkeypatch.setenv("XAI_WIDGETS_CACHE", str(folder))
    return folder


@pytest.fixture
def shared_net():
    torch.manual_seed(0)
    return SharedReLUNet()


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models run faster on one thread than on two busy cores (and with less noise)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def exact_float32():
    """CUDA convolutions and matmuls in full float32: TF32 (cuDNN's default for convolutions)
    rounds to 10 mantissa bits, which would hide real CPU/GPU differences behind 1e-3 noise."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


@pytest.fixture(scope="session")
def local_ray():
    """A local Ray with two worker CPUs, started once for the session (it takes 20-30 s); workers
    import this checkout and these tests."""
    ray = pytest.importorskip("ray")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")]))
        env.setenv("RAY_USAGE_STATS_ENABLED", "0")
        env.setenv("OMP_NUM_THREADS", "1")
        for attempt in range(2):  # on a busy 2-core machine Ray's agents can miss the raylet's start window
            try:
                ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False,
                         _node_ip_address="127.0.0.1", object_store_memory=100 * 1024**2)
                break
            except Exception:
                ray.shutdown()
                if attempt:
                    raise
        try:
            yield ray
        finally:
            ray.shutdown()


# Property tests: the suite's profile, and a longer one (pytest --hypothesis-profile=long).
settings.register_profile("default", max_examples=200, deadline=None)
settings.register_profile("long", max_examples=3000, deadline=None)
settings.load_profile("default")
