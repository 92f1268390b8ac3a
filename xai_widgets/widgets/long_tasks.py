"""Long work started from a widget (dataset scans, optimisations): progress and cancel.

Called from Python, a task runs in the calling cell with a tqdm bar; interrupting the
kernel (or ``w.cancel()`` from another thread) stops it. Started from the widget's
buttons, it runs in a background thread so that the kernel stays free to receive the
Cancel button's message. Either way the widget's ``progress`` trait shows how far it
got, and the computation functions check the cancel flag between steps and raise
:class:`~xai_widgets.core.tasks.Cancelled`, leaving the model as it was.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

import traitlets

from ..core.tasks import Cancelled

IDLE = {"task": "", "done": 0, "total": None, "running": False}
_MIN_INTERVAL = 0.1  # s between progress messages: enough for a smooth bar, no message flood


class LongTasks(traitlets.HasTraits):
    """Mixin for widgets with long tasks: one at a time, with progress and cancel.

    Parameters
    ----------
    **kwargs
        Passed on to the next class in the method resolution order (trait values).

    Attributes
    ----------
    progress : dict
        ``{"task": str, "done": int, "total": int or None, "running": bool}``: the running
        task's name and how far it got; ``running`` is False when idle.
    """

    progress = traitlets.Dict(IDLE).tag(sync=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._cancel_flag = threading.Event()
        self._worker: threading.Thread | None = None

    @property
    def busy(self) -> bool:
        """Whether a task is running."""
        return bool(self.progress.get("running"))

    def cancel(self) -> None:
        """Ask the running task to stop at its next step (no effect when idle)."""
        self._cancel_flag.set()

    def _on_custom_msg(self, widget, content, buffers):
        """The browser's Cancel button ({"type": "cancel"}); other messages go on to the widget's base."""
        if isinstance(content, dict) and content.get("type") == "cancel":
            self.cancel()
        else:
            super()._on_custom_msg(widget, content, buffers)

    def _run_task(self, name: str, work: Callable, *, background: bool = False, on_error=None):
        """Run ``work(progress, cancel)``; returns its result (None when run in the background).

        In the background, errors and cancellation are reported in ``message``; in the
        foreground they propagate, except cancellation, which is reported and returns None.
        """
        if self.busy:
            raise RuntimeError(f"{self.progress['task']} is still running; wait for it or call cancel()")
        self._cancel_flag.clear()
        self.progress = {"task": name, "done": 0, "total": None, "running": True}
        if background:
            def target():
                try:
                    self._guarded(name, work, use_tqdm=False)
                except Exception as exc:  # shown in the widget: a thread has no cell to raise in
                    self.message = f"{name} failed: {type(exc).__name__}: {exc}"
                    if on_error is not None:
                        on_error(exc)

            self._worker = threading.Thread(target=target, name=f"xai_widgets {name}", daemon=True)
            self._worker.start()
            return None
        return self._guarded(name, work, use_tqdm=True)

    def _guarded(self, name: str, work: Callable, use_tqdm: bool):
        bar = None
        last = [0.0]

        def progress(done: int, total: int | None) -> None:
            nonlocal bar
            if use_tqdm:
                if bar is None:
                    from tqdm.auto import tqdm

                    bar = tqdm(total=total, desc=name, leave=False)
                bar.update(done - bar.n)
            now = time.monotonic()
            if now - last[0] >= _MIN_INTERVAL or (total is not None and done >= total):
                last[0] = now
                self.progress = {"task": name, "done": int(done), "total": total, "running": True}

        try:
            return work(progress, self._cancel_flag)
        except (Cancelled, KeyboardInterrupt):
            self.message = f"{name} cancelled; nothing was changed."
            return None
        finally:
            if bar is not None:
                bar.close()
            self.progress = dict(IDLE)

    def wait(self, timeout: float | None = None) -> None:
        """Block until a background task started from the widget has finished.

        Returns at once if no background task was ever started.

        Parameters
        ----------
        timeout : float or None, optional
            The longest wait in seconds. Default None: wait as long as the task runs.
            After a timeout the task may still be running (see ``busy``).
        """
        if self._worker is not None:
            self._worker.join(timeout)
