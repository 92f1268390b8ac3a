"""xai_widgets: interactive interpretability widgets for PyTorch CNNs in Jupyter."""
from . import backview, demo, factorize, featurevis, grid, morph, projection, scan, transforms
from .capture import LayerInfo, capture, layers
from .images import to_batch
from .similarity import cosine_map, unit_vectors
from .widgets import ChannelGrid, PathMorph, SimilarityOverlay, TransformSweep

__all__ = ["ChannelGrid", "PathMorph", "morph", "SimilarityOverlay", "TransformSweep", "backview", "factorize", "featurevis", "grid",
           "projection", "scan", "transforms", "LayerInfo", "capture", "cosine_map", "demo", "layers", "to_batch",
           "unit_vectors"]
__version__ = "0.1.0"
