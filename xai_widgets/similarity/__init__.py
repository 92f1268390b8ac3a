"""Similarity in a model's representation (Fong, Mordvintsev, Vedaldi & Olah 2021): the maps
(maps), the channel reduction that fits them to a payload (projection), 8-bit codes of the
vectors for big views (codes), activation groups by NMF (factorize), and how similarity survives
rotation and scaling (transforms)."""
from .maps import colour_range, cosine_map, half_vectors, synced_cell, unit_vectors

__all__ = ["colour_range", "cosine_map", "half_vectors", "synced_cell", "unit_vectors"]
