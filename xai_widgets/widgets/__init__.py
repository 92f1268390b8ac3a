"""Widget classes: traits and commands only, delegating every number to the core modules."""
from .channel_grid import ChannelGrid
from .path_morph import PathMorph
from .similarity import SimilarityOverlay
from .sweep import TransformSweep

__all__ = ["ChannelGrid", "PathMorph", "SimilarityOverlay", "TransformSweep"]
