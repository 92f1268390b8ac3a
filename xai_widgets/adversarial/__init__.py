"""Adversarial views: white-box attacks (FGSM, BIM / PGD, Carlini-Wagner L2) and the checks
that tell robustness from masked gradients."""
from .attacks import (BIM_EPSILONS, CW_SCALES, FGSM_EPSILONS, bim, carlini_wagner, fgsm, imperceptibility,
                      obfuscation_checklist, success)

__all__ = ["fgsm", "bim", "carlini_wagner", "success", "imperceptibility", "obfuscation_checklist",
           "FGSM_EPSILONS", "BIM_EPSILONS", "CW_SCALES"]
