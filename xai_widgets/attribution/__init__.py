"""Attribution: which input pixels a decision rests on. The method registry and the gradient
family (methods), layer-wise relevance propagation (lrp), meaningful and extremal
perturbation (perturbation), occlusion of relevant features (feature_occlusion) and the
metrics that compare methods (metrics; over a whole dataset, on Ray too: dataset_metrics), RISE
(rise), LIME (lime), PatternNet and PatternAttribution (patterns), Concept Relevance Propagation
(crp), the invariance and continuity checks (invariance) and LRP's conservation layer by layer
(conservation)."""
from . import conservation, crp, dataset_metrics, invariance, lime, patterns, rise
from .methods import (CONTRASTIVE_METHODS, METHOD_NAMES, METHODS, Attribution, ContrastiveScore, MapSeries, Method,
                      SeriesAxis, attribute, grad_cam, grad_x_input, gradient, integrated_gradients, occlusion,
                      pixel_map, resolve_targets, smoothgrad)

__all__ = ["conservation", "crp", "dataset_metrics", "invariance", "lime", "patterns", "rise",
           "METHODS", "METHOD_NAMES", "CONTRASTIVE_METHODS", "Method", "SeriesAxis", "MapSeries", "Attribution",
           "resolve_targets", "attribute", "gradient", "grad_x_input", "smoothgrad", "integrated_gradients",
           "grad_cam", "occlusion", "pixel_map", "ContrastiveScore"]
