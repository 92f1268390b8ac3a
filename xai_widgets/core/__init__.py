"""The core every system uses: capturing layers without changing the model (capture, layouts,
outputs, hygiene), the inputs and classes a method explains (images, targets), tensors to the
browser (wire), figures and their colours (render, colormaps, export), long tasks (tasks, rng)
and image operations (blur, warp)."""
