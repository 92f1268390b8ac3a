"""``AdversarialExplorer``: what a white-box attack changes, image by image and budget by budget.

For every budget eps (and, for BIM, every iteration; for Carlini-Wagner every multiple of its
perturbation) the attacked images x' are computed once in the kernel
(:mod:`xai_widgets.adversarial.attacks`: FGSM, Goodfellow et al. 2015; BIM, Kurakin et al.
2017; C&W L2, Carlini and Wagner 2017) and shipped with their top-5 classes and the
attribution of x and x' (:func:`xai_widgets.attribution.attribute`, each for its predicted
class). The browser shows per image x, the perturbation delta = x' - x amplified to the full
colour range (symmetric: mid grey is 0), x', the top-5 before and after, whether the
prediction left the true class, ||delta||_inf and ||delta||_2, and the two attribution maps
on one symmetric scale per image; the eps and iteration sliders scrub every frame without
the kernel. A chart draws the batch's accuracy against Palacio's mean relative L2 change
(:func:`xai_widgets.adversarial.imperceptibility`), both over the initially correct images,
one point per eps, with the current eps marked. With ``checklist=True`` the masked-gradient
checklist (Athalye, Carlini and Wagner 2018, section 3.1;
:func:`xai_widgets.adversarial.obfuscation_checklist`) is run as well and its four verdicts shown.
The computation runs in the background with a progress bar and Cancel (``w.wait()`` blocks until
it is done); after a cancel the view says so and ``w.recompute()`` (or the view's Recompute
button) starts it again.
"""
from __future__ import annotations

import math
import numbers
from typing import Callable, Sequence

import numpy as np
import torch
import traitlets
from PIL import Image
from torch import nn

from ..adversarial import BIM_EPSILONS, CW_SCALES, FGSM_EPSILONS, obfuscation_checklist
from ..attribution.methods import METHOD_NAMES
from ..core import colormaps, wire
from ..core.capture import model_device
from ..core.images import as_image_list, check_input_size, to_batch
from ..core.tasks import check, report
from ..units.predictions import class_probabilities
from .adversarial_payload import ATTACKS, adversarial_state, amplified_pixels, check_payload, frame_pixels
from .adversarial_picture import adversarial_figure, pending_figure
from .base import STATIC, XaiWidget
from .checks import Index, PanelSize, at_least, index_in, print_scale, validates
from .long_tasks import LongTasks

__all__ = ["AdversarialExplorer", "CHECKLIST_LINES"]

#: The checklist's verdicts, as the widget words them.
CHECKLIST_LINES = (
    ("iterative_stronger", "iterative attack succeeds at least as often as FGSM at every eps"),
    ("monotone", "iterative attack's success never falls as eps grows"),
    ("unbounded_succeeds", "unbounded attack succeeds on every image"),
    ("random_weaker", "random noise of the same size flips fewer images than FGSM"),
)
_PRESETS = {"fgsm": FGSM_EPSILONS, "bim": BIM_EPSILONS}
#: The default payload budget: ``max_bytes`` (the demo notebook's BIM view ships about 6 MiB).
MAX_BYTES = 64 * wire.MiB


class AdversarialExplorer(LongTasks, XaiWidget):
    """Images under a white-box attack: x, the amplified perturbation, x', top-5, norms and attributions.

    Parameters
    ----------
    model : nn.Module
        A classifier (N x K logits); left exactly as given.
    images : tensor, sequence of images or batch
        The images, in the model's input space (``bounds`` is its valid range).
    labels : sequence of int, tensor or None, optional
        The true classes. Default None: the model's predictions (every image then starts correct).
    attack : {"fgsm", "bim", "cw"}, default "fgsm"
        FGSM (one step per eps), BIM (``steps`` steps of eps, every iterate kept) or C&W L2
        (one optimisation; its delta is scaled by each value of ``epsilons``).
    epsilons : sequence of float, optional
        Strictly increasing, >= 0. FGSM and BIM: budgets in the input's units, default
        Palacio's presets / 255 (:data:`~xai_widgets.adversarial.FGSM_EPSILONS`,
        :data:`~xai_widgets.adversarial.BIM_EPSILONS`). C&W: multiples of delta, default
        :data:`~xai_widgets.adversarial.CW_SCALES` (already multiples, not divided).
    steps : int, default 10
        BIM's iterations (ignored otherwise).
    method : str, default "gradient"
        The attribution method (a name of ``xw.attribution.METHOD_NAMES``).
    classes : sequence of str, optional
        Class names (default "class k").
    bounds : (float, float), default (0, 1)
        The valid input range; the attacks clip to it and it maps to the colour range.
    attack_options : dict, optional
        Extra keywords of the attack function (C&W: ``c``, ``kappa``, ``steps``, ``lr``;
        BIM: ``step``, ``project``).
    checklist : bool, default False
        Also run the masked-gradient checklist on these images (slow: several attacks per eps).
    size : int, default 128
        The CSS size of each panel.
    max_bytes : int, default :data:`MAX_BYTES` (64 MiB)
        Payload budget: the tensors shipped to the browser (x, every frame's perturbation and
        attribution map; :func:`~xai_widgets.widgets.adversarial_payload.payload_size`) must fit,
        or the constructor refuses before any attack runs, naming the options that lower it.
    background : bool, default True
        Run the attacks in a background thread: the view shows a progress bar and Cancel, and
        ``w.wait()`` blocks until they are done. False runs them in the calling cell with a
        progress bar (interrupting the kernel cancels them).

    Attributes
    ----------
    ready : bool
        Whether the frames are computed (False while running, after a cancel or an error).
    eps_index, iteration : int
        The frame shown (the browser's sliders set them).
    checklist : list
        The checklist's ``[text, passed]`` lines (empty when not run).

    Raises
    ------
    TypeError, ValueError
        For bad inputs (and a payload over ``max_bytes``), saying what is accepted.

    Notes
    -----
    The attacks, the attributions and the checklist run once per computation. A cancelled or
    failed computation leaves the widget valid, with no frames and a message saying what
    happened; :meth:`recompute` runs it again. The methods that return frames raise
    ``RuntimeError`` until it has finished.
    """

    _esm = STATIC / "adversarial.js"
    _css = STATIC / "adversarial.css"

    _data = traitlets.Dict().tag(sync=True)
    _colormaps = traitlets.Dict().tag(sync=True)
    eps_index = Index(0, min=0).tag(sync=True)
    iteration = Index(0, min=0).tag(sync=True)
    checklist = traitlets.List().tag(sync=True)
    size = PanelSize(128).tag(sync=True)

    _browser_traits = frozenset({"eps_index", "iteration"})

    def __init__(self, model: nn.Module, images, labels=None, *, attack: str = "fgsm",
                 epsilons: Sequence[float] | None = None, steps: int = 10, method: str = "gradient",
                 classes: Sequence[str] | None = None, bounds: Sequence[float] = (0.0, 1.0),
                 attack_options: dict | None = None, checklist: bool = False, size: int = 128,
                 max_bytes: int = MAX_BYTES, background: bool = True):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if attack not in ATTACKS:
            raise ValueError(f"attack must be one of {ATTACKS}, got {attack!r:.80}")
        if method not in METHOD_NAMES:
            raise ValueError(f"method must be one of {sorted(METHOD_NAMES)}, got {method!r:.80}")
        if attack_options is not None and not isinstance(attack_options, dict):
            raise TypeError("attack_options must be a dict of the attack's keywords, "
                            f"got {type(attack_options).__name__}")
        if not isinstance(checklist, bool):
            raise TypeError(f"checklist must be True or False, got {checklist!r:.80}")
        self.model, self.attack, self.method = model, attack, method
        self.steps = at_least("steps", steps) if attack == "bim" else 1
        self.bounds = _check_bounds(bounds)
        self.epsilons = _check_epsilons(attack, epsilons)
        self.max_bytes = at_least("max_bytes", max_bytes)
        images = as_image_list(images)
        if not images:
            raise ValueError("no images: pass at least one image (a tensor, PIL image or array)")
        x = to_batch(images, model, None)
        check_input_size(x, "AdversarialExplorer")
        lo, hi = self.bounds
        if float(x.min()) < lo or float(x.max()) > hi:
            raise ValueError(f"the images must lie inside bounds {self.bounds} (they span "
                             f"[{float(x.min()):.4g}, {float(x.max()):.4g}]); pass bounds= for another range")
        check_payload(tuple(x.shape), len(self.epsilons), self.steps, self.max_bytes)
        self.inputs = x
        self.labels = _check_labels(labels, len(x))
        self.classes = None if classes is None else [str(c) for c in classes]
        self._check_targets()
        self._options = dict(attack_options or {})
        self._run_checklist = checklist
        self._state: dict = {}
        super().__init__(size=size, _colormaps={"diverging": colormaps.LUTS["diverging"].tobytes()})
        self.recompute(background=background)

    def _check_targets(self) -> None:
        """Refuse, before any attack, labels the class names do not cover or that every image misses."""
        y = self.labels
        pred = class_probabilities(self.model, self.inputs.to(model_device(self.model))).argmax(1).cpu()
        if self.classes is not None and len(self.classes) <= int((pred if y is None else y).max()):
            raise ValueError(f"{len(self.classes)} class names, but label {int((pred if y is None else y).max())} "
                             "appears; pass one name per class")
        if y is not None and not bool((pred == y).any()):
            raise ValueError("the model misclassifies every image; the accuracy curve counts initially correct "
                             "images (check the labels, or pass labels=None to attack the model's own predictions)")

    def recompute(self, *, background: bool = True) -> None:
        """Compute every frame (again): the attacks, the attributions and, if asked for, the checklist.

        The view's Recompute button calls it after a cancel. Until it is done the view shows
        its progress and ``ready`` is False.

        Parameters
        ----------
        background : bool, default True
            Run in a background thread (``w.wait()`` blocks until done); False runs it in the
            calling cell with a progress bar.

        Raises
        ------
        RuntimeError
            If the computation is still running.
        """
        if self.busy:
            raise RuntimeError("the attack is still running; wait for it (w.wait()) or call cancel()")
        self._state = {}
        with self.hold_sync():
            self._data = {}
            self.checklist = []
            self.message = ""
        self._run_task("attack", self._work(self._run_checklist), background=background)

    def _publish(self, state: dict) -> None:
        """Show a finished computation: its state, payload and the last frame."""
        self._state = state
        with self.hold_sync():
            self._data = state["data"]
            self.eps_index = len(self.epsilons) - 1
            self.iteration = self.steps - 1
            self.checklist = state["checklist"]

    @property
    def ready(self) -> bool:
        """Whether every frame is computed and shown."""
        return bool(self._state)

    def _require(self) -> dict:
        """The computed state, or a RuntimeError saying why there is none and what to do."""
        if self._state:
            return self._state
        if self.busy:
            raise RuntimeError("the attack is still running: call w.wait() first")
        raise RuntimeError(f"no frames: {self.message or 'the attack did not finish'} Call w.recompute().")

    def _on_custom_msg(self, widget, content, buffers):
        if isinstance(content, dict) and content.get("type") == "recompute":
            if self.busy:
                self.message = "The attack is already running."
            else:
                self.recompute(background=True)
        else:
            super()._on_custom_msg(widget, content, buffers)

    def _work(self, checklist: bool) -> Callable:
        device = model_device(self.model)

        def work(progress, cancel):
            x = self.inputs.to(device)
            y = self.labels
            if y is None:
                y = class_probabilities(self.model, x).argmax(1)
            y = y.to(device)
            state = adversarial_state(self.model, x, y, attack=self.attack, epsilons=self.epsilons,
                                      steps=self.steps, bounds=self.bounds, method=self.method,
                                      classes=self.classes, options=self._options, max_bytes=self.max_bytes,
                                      progress=progress, cancel=cancel)
            state["checklist"] = []
            if checklist:
                check(cancel)
                result = obfuscation_checklist(self.model, x, y, epsilons=self._checklist_epsilons(),
                                               bounds=self.bounds)
                state["checklist"] = [[text, bool(result[key])] for key, text in CHECKLIST_LINES]
                state["checklist_result"] = result
                report(progress, len(self.epsilons), len(self.epsilons))
            self._publish(state)
            return state

        return work

    def _checklist_epsilons(self) -> list[float]:
        return self.epsilons if self.attack != "cw" else [e / 255 for e in FGSM_EPSILONS]

    # ------------------------------------------------------------------ validation
    @validates("eps_index")
    def _validate_eps(self, proposal):
        return index_in("eps_index", proposal["value"], max(1, len(self.epsilons)), "an index into epsilons")

    @validates("iteration")
    def _validate_iteration(self, proposal):
        return index_in("iteration", proposal["value"], self.steps, "an iteration index (0 is the first step)")

    # ------------------------------------------------------------------ Python API
    @property
    def payload_bytes(self) -> int:
        """Bytes of tensors shipped to the browser."""
        return int(self._require()["bytes"])

    @property
    def checklist_result(self) -> dict | None:
        """The full :func:`~xai_widgets.adversarial.obfuscation_checklist` result, or None when not run."""
        return self._require().get("checklist_result")

    def adversarial(self, eps_index: int | None = None, iteration: int | None = None) -> torch.Tensor:
        """The attack's output for one frame: N x C x H x W (default: the current frame).

        Parameters
        ----------
        eps_index : int, optional
            An index into ``epsilons``.
        iteration : int, optional
            BIM's iteration index (0: after the first step).

        Returns
        -------
        torch.Tensor
            The attacked images as the attack returned them (float, CPU).
        """
        e, t = self._frame(eps_index, iteration)
        return self._require()["adversarial"][e, t].clone()

    def pixels(self, image: int, eps_index: int | None = None, iteration: int | None = None,
               panel: str = "adversarial") -> np.ndarray:
        """The H x W x 3 bytes the browser draws in one panel.

        Parameters
        ----------
        image : int
            The image's index.
        eps_index, iteration : int, optional
            The frame (default the current one).
        panel : {"adversarial", "clean", "perturbation"}
            x', x, or the amplified delta.

        Returns
        -------
        numpy.ndarray
            H x W x C uint8.
        """
        i = index_in("image", image, len(self.inputs), "an image index")
        e, t = self._frame(eps_index, iteration)
        state = self._require()
        x, delta = state["x"][i], state["delta"][e, t, i]
        if panel == "clean":
            return frame_pixels(x, np.zeros_like(x), self.bounds)
        if panel == "perturbation":
            return amplified_pixels(delta)
        if panel == "adversarial":
            return frame_pixels(x, delta, self.bounds)
        raise ValueError(f"panel must be 'adversarial', 'clean' or 'perturbation', got {panel!r:.80}")

    def flipped(self, eps_index: int | None = None, iteration: int | None = None) -> list[bool]:
        """Per image, whether the attacked prediction left the true class (the flip marker)."""
        e, t = self._frame(eps_index, iteration)
        state = self._require()
        return [int(p) != int(lab) for p, lab in zip(state["pred_adv"][e, t], state["data"]["labels"])]

    def curve(self, iteration: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The chart's points: mean relative L2 and accuracy per eps over the initially correct images.

        Returns
        -------
        (numpy.ndarray, numpy.ndarray)
            ``mean_l2`` and ``accuracy``, one value per eps.
        """
        _, t = self._frame(0, iteration)
        state = self._require()
        return state["mean_l2"][t].copy(), state["accuracy"][t].copy()

    def _frame(self, eps_index, iteration) -> tuple[int, int]:
        e = self.eps_index if eps_index is None else index_in("eps_index", eps_index, len(self.epsilons))
        t = self.iteration if iteration is None else index_in("iteration", iteration, self.steps)
        return e, t

    # ------------------------------------------------------------------ reports
    _CARD_ATTACKS = {"fgsm": "FGSM (Goodfellow, Shlens and Szegedy, ICLR 2015)",
                     "bim": "BIM / iterative FGSM (Kurakin, Goodfellow and Bengio, ICLR Workshops 2017)",
                     "cw": "Carlini-Wagner L2 (Carlini and Wagner, IEEE S&P 2017)"}

    def _card_parts(self) -> dict:
        """The card: the images attacked, the attack and budget shown, how to read delta and the maps."""
        e, t = self._frame(None, None)
        flips = f"{sum(self.flipped())} of {len(self.inputs)}" if self.ready else "not computed yet"
        budget = "perturbation multiple" if self.attack == "cw" else "eps (L-inf, in input units)"
        return {
            "question": "How small a change of the input flips the model's prediction, and what changes in "
                        "its explanation?",
            "explanandum": {"images": f"{len(self.inputs)} of {' x '.join(map(str, self.inputs.shape[1:]))}",
                            "labels": "given" if self.labels is not None else "the model's predictions",
                            "flipped now": flips},
            "explainer": {"attack": self._CARD_ATTACKS.get(self.attack, self.attack), budget: self.epsilons,
                          "shown": f"{budget.split(' ')[0]} = {self.epsilons[e]:.4g}, step {t + 1} of {self.steps}",
                          "bounds": list(self.bounds), "attack options": {str(k): str(v)
                                                                          for k, v in self._options.items()} or "none",
                          "attribution": self.method, "checklist": "run" if self.checklist else "not run"},
            "interpretation": {
                "delta": "x' - x amplified to the full colour range: mid grey is 0",
                "maps": "the attribution of x and of x', each for its predicted class, on one symmetric diverging "
                        "scale per image (red for the class, blue against)",
                "chart": "accuracy against the mean relative L2 change (Palacio), over the initially correct "
                         "images, one point per budget, the current one marked",
                "sliders": "eps and iteration scrub the precomputed frames"},
        }

    def _preview_panel(self) -> int:
        return min(self.size, 96)

    def render_png(self, panel: int | None = None, scale: float = 1.0, eps_index: int | None = None,
                   iteration: int | None = None) -> Image.Image:
        """The current view as a PIL image: one row per image (x, amplified delta, x', both
        attributions, the top classes, flip and norms) and the accuracy-vs-L2 chart.

        Parameters
        ----------
        panel : int, optional
            Panel size in pixels at scale 1 (default ``size``).
        scale : float, default 1.0
            Multiplier of every length.
        eps_index, iteration : int, optional
            The frame (default the current one).

        Returns
        -------
        PIL.Image.Image
            The figure.
        """
        e, t = self._frame(eps_index, iteration)
        scale = print_scale(scale)
        panel = at_least("panel", self.size if panel is None else panel, 16)
        if not self.ready:
            text = "computing the attacks..." if self.busy else self.message or "no frames computed"
            return pending_figure(f"AdversarialExplorer ({self.attack.upper()}): {text}", panel=panel, scale=scale)
        return adversarial_figure(self, e, t, panel=panel, scale=scale)

    def __repr__(self) -> str:
        shipped = (f"ships {wire.fmt_bytes(self.payload_bytes)}" if self.ready
                   else "running" if self.busy else "no frames")
        return f"AdversarialExplorer({self.attack}, {len(self.inputs)} images, {len(self.epsilons)} budgets, {shipped})"


def _check_bounds(bounds) -> tuple[float, float]:
    pair = list(bounds) if isinstance(bounds, (tuple, list)) else []
    if len(pair) != 2 or any(isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v)
                             for v in pair) or not pair[0] < pair[1]:
        raise ValueError(f"bounds must be two finite numbers (low, high) with low < high, got {bounds!r:.80}")
    return float(pair[0]), float(pair[1])


def _check_epsilons(attack: str, epsilons) -> list[float]:
    if epsilons is None:
        return [float(s) for s in CW_SCALES] if attack == "cw" else [e / 255 for e in _PRESETS[attack]]
    if isinstance(epsilons, (str, bytes)) or not isinstance(epsilons, (Sequence, np.ndarray, torch.Tensor)):
        raise TypeError(f"epsilons must be a sequence of numbers, got {type(epsilons).__name__}")
    values = [v.item() if isinstance(v, (np.generic, torch.Tensor)) else v for v in epsilons]
    if not values:
        raise ValueError("epsilons is empty: give at least one budget")
    bad = [v for v in values if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) or v < 0]
    if bad:
        raise ValueError(f"epsilons must be finite numbers >= 0 (in the input's units), got {bad[0]!r}")
    values = [float(v) for v in values]
    if any(b <= a for a, b in zip(values, values[1:])):
        raise ValueError(f"epsilons must be strictly increasing (they are the slider's stops), got {values}")
    return values


def _check_labels(labels, n: int) -> torch.Tensor | None:
    if labels is None:
        return None
    y = torch.as_tensor(np.asarray(labels) if not isinstance(labels, torch.Tensor) else labels)
    if y.dtype.is_floating_point or y.dtype == torch.bool or y.dim() > 1 or y.numel() != n:
        raise ValueError(f"labels must be {n} integer classes, one per image, got {tuple(y.shape)} of {y.dtype}")
    if bool((y < 0).any()):
        raise ValueError("labels must be class indices >= 0")
    return y.long().flatten()
