// A page written by `to_html` has no kernel: its state carries `_no_kernel` (set by
// xai_widgets/core/export.py, never by a live widget), so what would wait for the kernel there says
// plainly that it needs one instead of showing "computing…" forever.
export const NEEDS_KERNEL = "needs the live notebook kernel";

/** True in a to_html page, where no kernel will ever answer. */
export const noKernel = (model) => !!model.get("_no_kernel");

/**
 * In a to_html page: put "`what` needs the live notebook kernel…" in the widget's message line
 * and return true (the caller then skips its request); in a live notebook, false.
 */
export function kernelOnly(model, what) {
  if (!noKernel(model)) return false;
  model.set("message", `${what} ${NEEDS_KERNEL}: this page was exported without one.`);
  return true;
}
