"""xai_widgets: interactive interpretability widgets for PyTorch CNNs in Jupyter."""
from . import demo, factorize, projection, transforms
from .capture import LayerInfo, capture, layers
from .images import to_batch
from .similarity import cosine_map, unit_vectors
from .widgets import SimilarityOverlay, TransformSweep

__all__ = ["SimilarityOverlay", "TransformSweep", "factorize", "projection", "transforms", "LayerInfo", "capture", "cosine_map", "demo", "layers", "to_batch", "unit_vectors"]
__version__ = "0.1.0"
