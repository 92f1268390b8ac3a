"""Widget classes: traits and commands only, delegating every number to the core modules."""
from .similarity import SimilarityOverlay
from .sweep import TransformSweep

__all__ = ["SimilarityOverlay", "TransformSweep"]
