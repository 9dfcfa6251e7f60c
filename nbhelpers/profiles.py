"""The three profiles: how big a run is, and what it uses.

``nbh.setup()`` picks one (``NBH_PROFILE``, or ``auto``: ``full`` on a GPU, ``cpu``
otherwise, ``offline`` where the ImageNet weights cannot be had) and
:func:`nbhelpers.config.make_config` turns it into the run's ``Config``, with budget
overrides applied.  A :class:`Profile` holds the facts; which of its fields an
instructor may override is :data:`nbhelpers.config.BUDGETS`.

========  ======================  =====================================  ==================
profile   backbone weights        data                                   meant for
========  ======================  =====================================  ==================
full      ImageNet (downloaded)   cats vs dogs, all of it, 224 px        a Colab GPU
cpu       ImageNet (downloaded)   cats vs dogs, 160 px, cached features  a workshop laptop
offline   none (random init)      scikit-image faces vs non-faces, 64px  CI, no network
========  ======================  =====================================  ==================
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Profile", "PROFILES"]


@dataclass(frozen=True)
class Profile:
    """The scale of one run: data, image size, weights and training budget.

    Example:
        >>> PROFILES["offline"].weights is None
        True
        >>> PROFILES["full"].image_size
        224
    """

    name: str
    description: str
    dataset: str  # name in nbhelpers.data's registry
    weights: str | None  # "imagenet" or None (random initialisation)
    image_size: int  # square images, pixels per side
    batch_size: int
    head_epochs: int  # a head on a frozen base
    finetune_epochs: int  # top block unfrozen
    head_learning_rate: float
    finetune_learning_rate: float
    max_images_per_class: int | None  # None: all of them
    lime_samples: int  # perturbed images per LIME explanation
    shap_evals: int  # model evaluations per Partition-SHAP explanation
    shap_background: int  # background images for GradientExplainer
    bootstrap: int  # resamples for confidence intervals
    explain_images: int  # images explained side by side


PROFILES: dict[str, Profile] = {
    "full": Profile(
        name="full",
        description="ImageNet weights, the whole cats-vs-dogs data set at 224 px (a GPU)",
        dataset="cats_and_dogs",
        weights="imagenet",
        image_size=224,
        batch_size=32,
        head_epochs=10,
        finetune_epochs=10,
        head_learning_rate=1e-3,
        finetune_learning_rate=1e-5,
        max_images_per_class=None,
        lime_samples=1000,
        shap_evals=500,
        shap_background=50,
        bootstrap=2000,
        explain_images=4,
    ),
    "cpu": Profile(
        name="cpu",
        description="ImageNet weights, cats vs dogs at 160 px, cached features (a laptop)",
        dataset="cats_and_dogs",
        weights="imagenet",
        image_size=160,
        batch_size=32,
        head_epochs=5,
        finetune_epochs=2,
        head_learning_rate=1e-3,
        finetune_learning_rate=1e-5,
        max_images_per_class=300,
        lime_samples=300,
        shap_evals=100,  # doubling it hardly changes the map (measured in 09, section 8)
        shap_background=20,
        bootstrap=1000,
        explain_images=1,  # each more image side by side in 09 costs about 4 units (four maps)
    ),
    "offline": Profile(
        name="offline",
        description="UNTRAINED weights (random init), scikit-image faces vs non-faces at 64 px",
        dataset="faces",
        weights=None,
        image_size=64,
        batch_size=16,
        head_epochs=8,
        finetune_epochs=2,
        head_learning_rate=1e-2,  # random-weight features are small: a larger step
        finetune_learning_rate=1e-4,
        max_images_per_class=None,
        lime_samples=40,
        shap_evals=40,
        shap_background=8,
        bootstrap=200,
        explain_images=2,
    ),
}
