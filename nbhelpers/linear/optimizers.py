"""The update rules, with Keras 3's maths: :class:`SGD` (with momentum) and :class:`Adam`.

Taught in ``04_training_by_hand``.  :class:`SGD` is ``keras.optimizers.SGD``:
with ``momentum`` it keeps ``v <- momentum * v - learning_rate * g`` and adds
``v`` to the weights.  :class:`Adam` is ``keras.optimizers.Adam``: the bias
corrections are folded into the step size, ``alpha_t = lr * sqrt(1 - beta_2**t)
/ (1 - beta_1**t)``, and ``epsilon`` (default ``1e-7``) is added to ``sqrt(v)``
*before* the correction ("epsilon hat" in Kingma and Ba, not the epsilon of
their Algorithm 1).  Each ``to_keras()`` gives the Keras optimizer with the
same maths.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._kit import Params

__all__ = ["SGD", "Adam"]


class SGD:
    """Stochastic gradient descent, with optional momentum: ``keras.optimizers.SGD``'s maths.

    Without momentum: ``w <- w - learning_rate * g``.  With momentum each
    weight keeps a velocity ``v <- momentum * v - learning_rate * g`` and moves
    by it, ``w <- w + v``: steps that keep pointing the same way add up.

    Example:
        >>> p = {"w": np.array([1.0])}
        >>> opt = SGD(learning_rate=0.1, momentum=0.9)
        >>> opt.step(p, {"w": np.array([1.0])}); p["w"].round(2).tolist()
        [0.9]
        >>> opt.step(p, {"w": np.array([1.0])}); p["w"].round(2).tolist()  # v = -0.19
        [0.71]
    """

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0) -> None:
        if learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive, got {learning_rate}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.learning_rate = float(learning_rate)
        self.momentum = float(momentum)
        self.velocity: dict[str, NDArray] = {}

    def step(self, params: Params, grads: Params) -> None:
        """Move every array of ``params`` (in place) against its gradient in ``grads``."""
        for name, g in grads.items():
            w = params[name]
            if self.momentum:
                v = self.velocity.setdefault(name, np.zeros_like(w))
                v *= self.momentum
                v -= self.learning_rate * g
                w += v
            else:
                w -= self.learning_rate * g

    def to_keras(self) -> Any:
        """The Keras optimizer with the same maths (``keras.optimizers.SGD``)."""
        import keras

        return keras.optimizers.SGD(learning_rate=np.float64(self.learning_rate),
                                    momentum=np.float64(self.momentum))

    def __repr__(self) -> str:
        return f"SGD(learning_rate={self.learning_rate:g}, momentum={self.momentum:g})"


class Adam:
    """Adam with ``keras.optimizers.Adam``'s maths (Keras 3), bias corrections included.

    For each weight: ``m <- m + (g - m)(1 - beta_1)`` (running mean of
    gradients), ``v <- v + (g**2 - v)(1 - beta_2)`` (of squared gradients),
    then with ``t`` the step number (from 1)
    ``w <- w - alpha_t * m / (sqrt(v) + epsilon)`` where
    ``alpha_t = learning_rate * sqrt(1 - beta_2**t) / (1 - beta_1**t)``.
    Each weight gets its own step size; the first step is about
    ``learning_rate`` in size whatever the gradient's scale.

    Example:
        >>> p = {"w": np.array([1.0, 1.0])}
        >>> opt = Adam(learning_rate=0.1)
        >>> opt.step(p, {"w": np.array([100.0, 0.001])}); p["w"].round(3).tolist()
        [0.9, 0.9]
    """

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-7) -> None:
        if learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive, got {learning_rate}")
        if not (0.0 <= beta_1 < 1.0 and 0.0 <= beta_2 < 1.0):
            raise ValueError(f"beta_1 and beta_2 must be in [0, 1), got {beta_1}, {beta_2}")
        if epsilon < 0:
            raise ValueError(f"epsilon must be >= 0, got {epsilon}")
        self.learning_rate = float(learning_rate)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        self.iterations = 0
        self.m: dict[str, NDArray] = {}
        self.v: dict[str, NDArray] = {}

    def step(self, params: Params, grads: Params) -> None:
        """One Adam step for every array of ``params`` (in place)."""
        self.iterations += 1
        t = self.iterations
        alpha = self.learning_rate * math.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)
        for name, g in grads.items():
            w = params[name]
            m = self.m.setdefault(name, np.zeros_like(w))
            v = self.v.setdefault(name, np.zeros_like(w))
            m += (g - m) * (1 - self.beta_1)
            v += (g * g - v) * (1 - self.beta_2)
            w -= alpha * m / (np.sqrt(v) + self.epsilon)

    def to_keras(self) -> Any:
        """The Keras optimizer with the same maths (``keras.optimizers.Adam``)."""
        import keras

        return keras.optimizers.Adam(learning_rate=np.float64(self.learning_rate),
                                     beta_1=np.float64(self.beta_1),
                                     beta_2=np.float64(self.beta_2),
                                     epsilon=np.float64(self.epsilon))

    def __repr__(self) -> str:
        return f"Adam(learning_rate={self.learning_rate:g})"
