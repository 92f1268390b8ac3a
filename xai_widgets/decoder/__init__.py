"""What the classifier sees: classifier-tuned decoders (Palacio et al., "What do Deep Networks
Like to See?", CVPR 2018; Palacio's PhD thesis, chapter 5).

    record = fit(classifier, ConvEncoder(), ConvDecoder(), images)   # reconstruction, then tuning
    recon = reconstruct(record.autoencoder, images)
    ic_nmi(images, recon), bc_nmi(recon), std_map(recon)
    cross_accuracy([f1, f2], [a1, a2], images, labels).min_ratio("clean")
"""
from .fit import FitRecord, fit, predicted_labels
from .measures import (BINS, DENOMINATORS, CrossAccuracy, bc_nmi, cross_accuracy, ic_nmi, nmi, reconstruct,
                       std_map)
from .models import Autoencoder, ConvDecoder, ConvEncoder

__all__ = ["Autoencoder", "BINS", "ConvDecoder", "ConvEncoder", "CrossAccuracy", "DENOMINATORS", "FitRecord",
           "bc_nmi", "cross_accuracy", "fit", "ic_nmi", "nmi", "predicted_labels", "reconstruct", "std_map"]
