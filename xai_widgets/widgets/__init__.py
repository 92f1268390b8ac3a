"""Widget classes: traits and commands only, delegating every number to the core modules."""
from .adversarial import AdversarialExplorer
from .attribution import AttributionExplorer
from .channel_grid import ChannelGrid
from .class_bias import ClassBias
from .concept_explorer import ConceptExplorer
from .decoder import DecoderExplorer
from .inversion import InversionExplorer
from .metrics_chart import MetricsChart
from .occlusion import OcclusionExplorer
from .path_morph import PathMorph
from .similarity import SimilarityOverlay
from .sweep import TransformSweep

__all__ = ["AdversarialExplorer", "AttributionExplorer", "ChannelGrid", "ClassBias", "ConceptExplorer",
           "DecoderExplorer", "InversionExplorer", "MetricsChart", "OcclusionExplorer", "PathMorph", "SimilarityOverlay", "TransformSweep"]
