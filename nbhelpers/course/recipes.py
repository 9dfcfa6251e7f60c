"""How each profile trains the two stages: :class:`Recipe`, :data:`RECIPES`, :func:`recipe`.

A recipe says *how* :func:`~nbhelpers.course.get_model` trains a stage (which
backbone and head, cached features or end to end, augmentation, patience); the
profile's :class:`~nbhelpers.config.Config` says *how much* (epochs, learning
rates, image size).  Notebook 06 reads ``recipe(cfg).finetune_method`` and
``.finetune_augment`` to fine-tune by hand the way ``get_model`` would.
Taught in ``06_fine_tuning``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import config as _config
from ..config import DEFAULT_DROPOUT, DEFAULT_HEAD, DEFAULT_PATIENCE, Config

__all__ = ["Recipe", "RECIPES", "recipe"]


@dataclass(frozen=True)
class Recipe:
    """How :func:`~nbhelpers.course.get_model` trains each stage in a profile (epochs and rates come from cfg).

    ``head_method``: ``"features"`` (fast path: head on cached features) or
    ``"end_to_end"`` (accurate path: frozen base + head on augmented images).
    ``finetune_method``: ``"end_to_end"`` (every epoch runs the whole model, on
    augmented images when ``finetune_augment``) or ``"features"`` (fast path, no
    augmentation: the frozen blocks below the top block run once, cached, and
    each epoch trains the top block and the head on their output:
    :func:`nbhelpers.training.fit_above`).
    ``head_augment``: augment the images while training the head (end to end only: the
    features path computes the base's output once, of the images as they are).
    ``finetune_augment``: augment the images while fine-tuning (end to end only).
    ``head``, ``dropout`` and ``patience`` default to the course's
    :data:`~nbhelpers.config.DEFAULT_HEAD`, :data:`~nbhelpers.config.DEFAULT_DROPOUT`
    and :data:`~nbhelpers.config.DEFAULT_PATIENCE`.

    Example:
        >>> RECIPES["full"].head_method, RECIPES["offline"].head_method
        ('end_to_end', 'features')
        >>> RECIPES["full"].finetune_method, RECIPES["cpu"].finetune_method
        ('end_to_end', 'features')
    """

    backbone: str = "vgg16"
    head: str = DEFAULT_HEAD
    dropout: float = DEFAULT_DROPOUT
    head_method: str = "features"
    head_augment: bool = False
    finetune_method: str = "end_to_end"
    finetune_augment: bool = True
    patience: int = DEFAULT_PATIENCE

    def __post_init__(self) -> None:
        for field, value in (("head_method", self.head_method),
                             ("finetune_method", self.finetune_method)):
            if value not in ("features", "end_to_end"):
                raise ValueError(f"Recipe.{field}={value!r}: 'features' or 'end_to_end'.")
        if self.head_method == "features" and self.head_augment:
            raise ValueError("Recipe: head_method='features' trains the head on the base's "
                             "output computed once, so it cannot augment; set "
                             "head_augment=False, or head_method='end_to_end'.")
        if self.finetune_method == "features" and self.finetune_augment:
            raise ValueError("Recipe: finetune_method='features' computes blocks below the top "
                             "block once, so it cannot augment; set finetune_augment=False, "
                             "or finetune_method='end_to_end'.")


#: One recipe per profile.  ``full`` follows the published recipes that reach
#: about 97-98 % on cats vs dogs: frozen base with augmentation, then block5 at 1e-5.
#: ``cpu`` takes the fast paths a workshop's laptops need (cached features for the head,
#: and for blocks 1-4 while block5 is fine-tuned), without augmentation.
RECIPES: dict[str, Recipe] = {
    "full": Recipe(head_method="end_to_end", head_augment=True),
    "cpu": Recipe(head_method="features", finetune_method="features", finetune_augment=False),
    "offline": Recipe(head_method="features", finetune_method="features",
                      finetune_augment=False),
}


def recipe(cfg: Config | None = None) -> Recipe:
    """The :class:`Recipe` of ``cfg``'s profile.

    Example:
        >>> recipe(_config.make_config("offline")).backbone
        'vgg16'
    """
    cfg = cfg or _config.current()
    return RECIPES.get(cfg.name, Recipe())
