"""xai_widgets: interactive interpretability widgets for PyTorch CNNs in Jupyter."""
from . import (attribution, backview, demo, factorize, features, featurevis, grid, metrics, morph, perturbation,
               projection, scan, transforms)
from .capture import LayerInfo, capture, layers
from .images import to_batch
from .similarity import cosine_map, unit_vectors
from .widgets import (AttributionExplorer, ChannelGrid, MetricsChart, OcclusionExplorer, PathMorph, SimilarityOverlay,
                      TransformSweep)

__all__ = ["AttributionExplorer", "ChannelGrid", "MetricsChart", "OcclusionExplorer", "PathMorph", "SimilarityOverlay",
           "TransformSweep", "attribution", "backview", "demo", "factorize", "features", "featurevis", "grid", "metrics",
           "morph", "perturbation", "projection", "scan", "transforms", "LayerInfo", "capture", "cosine_map", "layers",
           "to_batch", "unit_vectors"]
__version__ = "0.1.0"
