"""Class bias in a dataset: label frequencies per partition, and which classes a model confuses
(Palacio 2023, chapters 4 and 7)."""
from .classes import (LabelHistogram, balanced_groups, class_distance, confusion_matrix, label_histogram,
                      routed_accuracy)

__all__ = ["LabelHistogram", "label_histogram", "routed_accuracy", "confusion_matrix", "class_distance",
           "balanced_groups"]
