from .latent import NormTable, Reconstruction, VAEAdapter, as_vae, class_norms, reconstruct
from .pathmask import PathMaskResult, blur_mask, path_mask, step_gains
from .paths import KINDS, PathDiagnostics, alphas, decode_path, latent_path, path_diagnostics
from .pipeline import MorphResult, explain
from .semantic import (EntropyWindow, LossScale, MorphHistory, entropy_window, semantic_morph, two_class_entropy,
                       two_class_probs)
from .models import ConvVAE, SeedCNN
from .train import kl_divergence, train_classifier, train_vae, vae_loss
