"""xai_widgets: interactive interpretability widgets for PyTorch vision models (CNNs and transformers) in Jupyter."""
from . import (attribution, backview, demo, factorize, features, featurevis, grid, images, layouts, metrics, morph,
               outputs, perturbation, projection, scan, transforms)
from .capture import LayerInfo, Maps, capture, capture_maps, layers, model_lock
from .layouts import Tokens
from .images import to_batch
from .similarity import cosine_map, unit_vectors
from .widgets import (AttributionExplorer, ChannelGrid, MetricsChart, OcclusionExplorer, PathMorph, SimilarityOverlay,
                      TransformSweep)

__all__ = ["AttributionExplorer", "ChannelGrid", "MetricsChart", "OcclusionExplorer", "PathMorph", "SimilarityOverlay",
           "TransformSweep", "attribution", "backview", "demo", "factorize", "features", "featurevis", "grid", "images",
           "layouts",
           "metrics", "morph", "outputs", "perturbation", "projection", "scan", "transforms", "LayerInfo", "Maps", "Tokens",
           "capture", "capture_maps", "cosine_map", "layers", "model_lock", "to_batch", "unit_vectors"]
__version__ = "0.1.0"
