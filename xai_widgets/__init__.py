"""xai_widgets: interactive interpretability widgets for PyTorch CNNs in Jupyter."""
from . import demo
from .capture import LayerInfo, capture, layers
from .images import to_batch
from .similarity import cosine_map, unit_vectors
from .widgets import SimilarityOverlay

__all__ = ["SimilarityOverlay", "LayerInfo", "capture", "cosine_map", "demo", "layers", "to_batch", "unit_vectors"]
__version__ = "0.1.0"
