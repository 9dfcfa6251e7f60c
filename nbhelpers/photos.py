"""Real photos that need no download, with what ImageNet calls them: for a real network anywhere.

scikit-image bundles a few photographs (``skimage.data``); with EfficientNet-Lite0's
ImageNet weights (:mod:`nbhelpers.lite0`, from a pip package) they let every profile,
offline included, show what a trained network explains and how its exports answer.
Used in ``09_explaining_with_shap`` (a composite with a cat on one side and a cup on the
other), ``12_using_your_model`` (a real network through the int8 export) and the
real-network tests.

    photos = real_photos(224)                  # {"chelsea": (224, 224, 3) float32, ...}
    image, halves = cat_and_cup(224)          # halves["cat"]: the cat's half as a mask
"""

from __future__ import annotations

import numpy as np

__all__ = ["PHOTOS", "EXPECTED", "real_photo", "real_photos", "cat_and_cup", "expected_mass"]

#: The photos of ``skimage.data`` used here, with what is in them.
PHOTOS: dict[str, str] = {
    "chelsea": "a tabby cat's face (Stefan van der Walt's cat Chelsea)",
    "coffee": "a cup of espresso on a saucer, with a spoon",
    "rocket": "a rocket on its launch pad (SpaceX Falcon 9)",
    "astronaut": "an astronaut's portrait (Eileen Collins), no ImageNet class fits",
}

#: ImageNet class indices that are right answers for each photo (nothing for the astronaut).
EXPECTED: dict[str, tuple[int, ...]] = {
    "chelsea": (281, 282, 283, 284, 285),  # tabby, tiger cat, Persian, Siamese, Egyptian cat
    "coffee": (504, 967, 968),  # coffee mug, espresso, cup
    "rocket": (657, 744, 812),  # missile, projectile, space shuttle
    "astronaut": (),
}


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    from PIL import Image

    img = Image.fromarray(np.asarray(image, dtype=np.uint8))
    return np.asarray(img.resize((width, height), Image.BICUBIC), dtype="float32")


def real_photo(name: str, size: int = 224) -> np.ndarray:
    """One photo of :data:`PHOTOS`: its centre square, ``(size, size, 3)`` float32 RGB in [0, 255].

    Example:
        >>> real_photo("coffee", 32).shape
        (32, 32, 3)
    """
    import skimage.data

    if name not in PHOTOS:
        raise ValueError(f"unknown photo {name!r}; choose one of {', '.join(PHOTOS)}")
    image = getattr(skimage.data, name)()
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return _resize(image[top:top + side, left:left + side], size, size)


def real_photos(size: int = 224) -> dict[str, np.ndarray]:
    """Every photo of :data:`PHOTOS`, ``{name: (size, size, 3) float32}``.

    Example:
        >>> sorted(real_photos(16))
        ['astronaut', 'chelsea', 'coffee', 'rocket']
    """
    return {name: real_photo(name, size) for name in PHOTOS}


def cat_and_cup(size: int = 224) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A composite photo: Chelsea's face on the left half, the espresso cup on the right.

    Each half is a tall crop of its photo (the cat's eyes and nose; the cup), resized
    without distortion to ``size x size/2``.  Returns the ``(size, size, 3)`` image and
    boolean masks ``{"cat": left half, "cup": right half}``, for checking that an
    explanation of a class lies on its own object (Selvaraju et al., 2017, show
    Grad-CAM's maps on a cat-and-dog photo the same way).

    Example:
        >>> image, halves = cat_and_cup(32)
        >>> image.shape, int(halves["cat"].sum()), bool((halves["cat"] ^ halves["cup"]).all())
        ((32, 32, 3), 512, True)
    """
    import skimage.data

    half = size // 2
    cat = skimage.data.chelsea()[:, 130:280]  # 300 x 150: eyes, nose, whiskers
    cup = skimage.data.coffee()[:, 190:390]  # 400 x 200: the cup, its crema, the saucer
    image = np.concatenate([_resize(cat, size, half), _resize(cup, size, size - half)], axis=1)
    left = np.zeros((size, size), dtype=bool)
    left[:, :half] = True
    return image, {"cat": left, "cup": ~left}


def expected_mass(probabilities: np.ndarray, name: str) -> float:
    """The probability an ImageNet model gives the right answers for photo ``name`` together.

    ``probabilities`` is one ``(1000,)`` row of a softmax.

    Example:
        >>> p = np.zeros(1000); p[[282, 285]] = 0.4
        >>> round(expected_mass(p, "chelsea"), 2)
        0.8
    """
    return float(np.asarray(probabilities)[list(EXPECTED[name])].sum())
