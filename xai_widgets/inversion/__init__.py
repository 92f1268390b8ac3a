"""What a layer keeps of an image: inversion of representations and feature synthesis
(Mahendran and Vedaldi 2015, 2016; Norton 2018)."""
from .invert import Inversion, invert, isolate, objective, region_mask, snapshot_steps
from .objective import alpha_norm, representation_loss, total_variation

__all__ = ["Inversion", "invert", "isolate", "objective", "region_mask", "snapshot_steps",
           "alpha_norm", "representation_loss", "total_variation"]
