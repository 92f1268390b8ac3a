"""Concepts in a layer's filters: Net2Vec embeddings (Fong and Vedaldi, CVPR 2018)."""
from .net2vec import ConceptEmbeddings, net2vec

__all__ = ["ConceptEmbeddings", "net2vec"]
