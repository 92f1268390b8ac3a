"""Widget classes: traits and commands only, delegating every number to the core modules."""
from .similarity import SimilarityOverlay

__all__ = ["SimilarityOverlay"]
