// Hover plumbing shared by the widgets: rAF-throttled pointer handling, panel tests, paint timings.

// True while a pointerrawupdate handler registered by listenMoves runs (frameQueue reads it).
let inRawUpdate = false;

/**
 * Pointer moves are throttled to animation frames: when no frame callback is
 * pending the work runs at once (lowest latency); work queued while one is
 * pending is coalesced and the latest runs in the next frame.
 *
 * Work run at once from a pointerrawupdate does not request the frame itself:
 * a frame requested before the matching pointermove is dispatched makes that
 * pointermove, and the paint, wait for the next vsync tick, while the
 * pointermove of an idle page starts a frame at once. So raw updates hold the
 * queue (later ones are coalesced) until the next other event, which runs at
 * once and requests the frame, or until a frame's time has passed without one.
 */
export function frameQueue() {
  let pending = null;
  let rafId = 0;
  let held = 0; // timer that ends a hold no pointermove ended
  function onFrame() {
    rafId = 0;
    if (!pending) return;
    const fn = pending;
    pending = null;
    rafId = requestAnimationFrame(onFrame);
    fn();
  }
  function requestFrame() {
    held = 0;
    rafId = requestAnimationFrame(onFrame);
  }
  return {
    queue(fn) {
      if (rafId || (held && inRawUpdate)) {
        pending = fn;
        return;
      }
      clearTimeout(held);
      pending = null; // fn is newer
      if (inRawUpdate) held = setTimeout(requestFrame, 20);
      else requestFrame();
      fn();
    },
    drop() {
      pending = null;
    },
    dispose() {
      if (rafId) cancelAnimationFrame(rafId);
      clearTimeout(held);
      rafId = held = 0;
      pending = null;
    },
  };
}

/**
 * pointerrawupdate (Chromium, secure contexts) is delivered as soon as the input
 * arrives, while pointermove waits for the next animation frame (rAF-aligned input),
 * which costs up to a frame of latency. Listen to both: whichever comes first does the
 * work, the other finds the same cell and repaints nothing.
 */
export function listenMoves(listen, target, fn) {
  listen(target, "pointermove", fn);
  if (!("onpointerrawupdate" in window)) return;
  listen(target, "pointerrawupdate", (ev) => {
    inRawUpdate = true;
    try {
      fn(ev);
    } finally {
      inRawUpdate = false;
    }
  });
}

export const isPanel = (node) => !!node && !!node.classList && node.classList.contains("xw-panel");

/**
 * Whether a pointerout leaves the panels of `container` (not merely moves to another panel);
 * `isTarget` widens what counts as a panel (e.g. to other hoverable elements).
 */
export const leavesPanels = (ev, container, isTarget = isPanel) =>
  isTarget(ev.target) && !(isTarget(ev.relatedTarget) && container.contains(ev.relatedTarget));

/**
 * The "xw-paint" event benchmarks listen to. latency: pointer event creation -> painted
 * (includes the browser's input delivery); work: time since t0, i.e. recompute + redraw.
 */
export function dispatchPaint(el, ev, t0, query) {
  const now = performance.now();
  el.dispatchEvent(new CustomEvent("xw-paint", { detail: { latency: now - ev.timeStamp, work: now - t0, query } }));
}

/** Marks el's first paint: data-xw-painted = its wall-clock time (benchmarks compare it with the kernel's clock). */
export function firstPaintMarker(el) {
  let painted = false;
  return () => {
    if (painted) return;
    painted = true;
    el.dataset.xwPainted = String(performance.timeOrigin + performance.now());
  };
}

/**
 * keydown handler of a pinnable widget: modified keys pass; Escape unpins (when pinned);
 * other keys go to `moveTo(ev)`, which returns the query to pin, or null to let the key pass.
 */
export function pinKeys(getPinned, setQuery, moveTo) {
  return (ev) => {
    if (ev.altKey || ev.ctrlKey || ev.metaKey) return;
    const escape = ev.key === "Escape";
    const q = escape ? null : moveTo(ev);
    if (escape ? !getPinned() : !q) return;
    ev.preventDefault();
    ev.stopPropagation();
    setQuery(q);
  };
}
