"""Concepts in a layer's filters: Net2Vec embeddings (Fong and Vedaldi, CVPR 2018)."""
from .net2vec import ConceptEmbeddings, concept_logits, decile_examples, filter_masks, net2vec

__all__ = ["ConceptEmbeddings", "net2vec", "concept_logits", "filter_masks", "decile_examples"]
