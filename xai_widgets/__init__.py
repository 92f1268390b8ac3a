"""xai_widgets: interactive interpretability widgets for PyTorch vision models (CNNs and transformers) in Jupyter.

The package is three layers: ``widgets`` (what a notebook shows) call the systems
(``similarity``, ``units``, ``attribution``, ``morph``, ``concepts``, ``inversion``,
``adversarial``, ``bias``, ``decoder``), which call the ``core``; ``demo``
holds the bundled models and data. The names below are the public face."""
from . import adversarial, attribution, bias, concepts, decoder, demo, inversion, morph, similarity
from .attribution import crp, feature_occlusion, lrp, metrics, perturbation
from .core import colormaps, images, layouts, outputs, wire
from .core.capture import LayerInfo, Maps, capture, capture_maps, layers, model_lock
from .core.images import to_batch
from .core.layouts import Tokens
from .similarity import cosine_map, factorize, projection, transforms, unit_vectors
from .units import backview, featurevis, grid, scan
from .widgets import (AdversarialExplorer, AttributionExplorer, ChannelGrid, ClassBias, ConceptExplorer,
                      DecoderExplorer, InversionExplorer, MetricsChart, OcclusionExplorer, PathMorph, SimilarityOverlay,
                      TransformSweep)

__all__ = ["AdversarialExplorer", "AttributionExplorer", "ChannelGrid", "ClassBias", "ConceptExplorer",
           "DecoderExplorer", "InversionExplorer", "MetricsChart", "OcclusionExplorer", "PathMorph", "SimilarityOverlay",
           "TransformSweep", "adversarial", "attribution", "backview", "bias", "colormaps", "concepts", "crp", "decoder",
           "demo", "factorize",
           "feature_occlusion", "featurevis", "grid", "images", "inversion", "layouts", "lrp", "metrics", "morph",
           "outputs", "perturbation", "projection", "scan", "similarity", "transforms", "wire", "LayerInfo", "Maps",
           "Tokens", "capture", "capture_maps", "cosine_map", "layers", "model_lock", "to_batch", "unit_vectors"]
__version__ = "0.1.0"
