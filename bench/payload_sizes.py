"""What notebooks 09 and 10 ship to the browser: every widget's synced state, as the comm sends it.

Run from a checkout: ``PYTHONPATH=. .venv/bin/python bench/payload_sizes.py`` (add ``--quick``
for 40 iterations per inversion instead of the notebook's 400: the pixels are the same size,
only the loss curves are shorter). Counts what ipywidgets sends for each widget's state: the
JSON text with the binary buffers taken out, plus the buffers. Compare two checkouts by
running it with each on ``PYTHONPATH``.
"""
from __future__ import annotations

import argparse
import json

import torch
from ipywidgets.widgets.widget import _remove_buffers

import xai_widgets as xw


def sent_bytes(widget) -> int:
    """JSON text plus binary buffers of the widget's whole synced state."""
    state, _, buffers = _remove_buffers(widget.get_state())
    return len(json.dumps(state)) + sum(len(b) for b in buffers)


def notebook_09(iterations: int) -> dict:
    model = xw.demo.shapes_model()
    data = xw.demo.shapes_dataset(2, seed=0)
    x = xw.to_batch(data.images[0], model)
    w = xw.InversionExplorer(model, x, ["relu1", "relu2", "relu3", "relu4"], n=3, iterations=iterations,
                             background=False)
    star = xw.to_batch(data.images[1], model)[0]
    x0, y0, x1, y1 = data.boxes[1][0]
    isolated = xw.inversion.isolate(star, (y0, x0, y1, x1), seed=0)
    f = xw.InversionExplorer(model, isolated, ["relu4"], n=3, iterations=iterations, background=False)
    return {"09 InversionExplorer (4 layers)": sent_bytes(w), "09 InversionExplorer (feature, relu4)": sent_bytes(f)}


def notebook_10() -> dict:
    model = xw.demo.shapes_model()
    data = xw.demo.shapes_dataset(8, seed=3)
    x = xw.demo.model.to_tensor(data.images)[[0, 3, 6]]
    y = torch.as_tensor(data.labels)[[0, 3, 6]]
    out = {}
    for name, kwargs in (("fgsm", dict(attack="fgsm")),
                         ("bim", dict(attack="bim", epsilons=[0.5 / 255, 1 / 255, 2 / 255], steps=5))):
        w = xw.AdversarialExplorer(model, x, y, classes=xw.demo.shapes.CLASSES, **kwargs)
        if hasattr(w, "wait"):
            w.wait()
        out[f"10 AdversarialExplorer ({name})"] = sent_bytes(w)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40 iterations per inversion instead of 400")
    args = parser.parse_args()
    torch.set_num_threads(2)
    sizes = {**notebook_10(), **notebook_09(40 if args.quick else 400)}
    for name, n in sizes.items():
        print(f"{name:42s} {n / 2**20:7.2f} MiB ({n} bytes)")


if __name__ == "__main__":
    main()
