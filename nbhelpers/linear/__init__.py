"""Training a linear classifier by hand, in NumPy: what ``compile`` and ``fit`` do.

Taught in ``04_training_by_hand``.  The model is one dense layer on top of
features: ``logits = x @ W + b``.  With two classes it has **one** output
(logistic regression: ``sigmoid(logit)`` is P(class 1)); with ``k > 2``
classes it has ``k`` outputs (softmax regression).  That is the convention of
``nbh.training.compile_model`` and of the heads in ``nbh.models``.

Everything here is the same maths as Keras 3, so a Keras model with the same
initial weights, batches and optimizer reproduces these numbers (the notebook
checks it to 1e-5):

* losses from logits, written the numerically stable way
  (``max(z, 0) - z*y + log(1 + exp(-|z|))`` as in
  ``tf.nn.sigmoid_cross_entropy_with_logits``; ``log_softmax`` with the
  maximum subtracted), averaged over the batch (Keras' ``"sum_over_batch_size"``);
* :class:`SGD` is ``keras.optimizers.SGD``: with ``momentum`` it keeps
  ``v <- momentum * v - learning_rate * g`` and adds ``v`` to the weights;
* :class:`Adam` is ``keras.optimizers.Adam``: the bias corrections are folded
  into the step size, ``alpha_t = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)``,
  and ``epsilon`` (default ``1e-7``) is added to ``sqrt(v)`` *before* the
  correction ("epsilon hat" in Kingma and Ba, not the epsilon of their
  Algorithm 1);
* :func:`train`'s per-epoch training loss is what ``fit`` reports: the mean
  of the per-example losses of each batch, computed *before* that batch's
  update (and with dropout on), weighted by batch size.  The validation loss
  is computed after the epoch, on the whole validation set.

Arrays keep their floating dtype: float64 arrays give float64 maths.

Call any of them as ``linear.<name>`` (``nbh.linear.<name>``); the submodules
group them by job, in the order notebook 04 teaches them:

===============  ===========================================================
module           does
===============  ===========================================================
``losses``       sigmoid, softmax, one-hot labels; the cross-entropies from
                 logits and their gradients
``checks``       gradients by central differences and their relative error;
                 ``keras_precision`` (Keras computing in float64)
``model``        the classifier: outputs per class count, initial weights,
                 logits, loss and gradients, predictions, evaluation,
                 standardised features
``optimizers``   ``SGD`` (with momentum) and ``Adam``, Keras' maths
``train_loop``   mini-batches, dropout and ``train`` (what ``fit`` does)
``_kit``         (private) the array types and the checks every part shares
===============  ===========================================================

Example:
    >>> from nbhelpers import linear
    >>> linear.train is linear.train_loop.train
    True
"""

from __future__ import annotations

from .checks import gradient_check, keras_precision, numerical_gradient
from .losses import (
    binary_cross_entropy,
    binary_cross_entropy_grad,
    categorical_cross_entropy,
    categorical_cross_entropy_grad,
    cross_entropy,
    cross_entropy_grad,
    log_softmax,
    one_hot,
    sigmoid,
    softmax,
)
from .model import (
    evaluate,
    init_params,
    logits,
    loss_and_grads,
    n_outputs,
    predict,
    predict_proba,
    standardize,
)
from .optimizers import SGD, Adam
from .train_loop import dropout, minibatches, train

__all__ = [
    "sigmoid",
    "softmax",
    "log_softmax",
    "one_hot",
    "binary_cross_entropy",
    "categorical_cross_entropy",
    "cross_entropy",
    "binary_cross_entropy_grad",
    "categorical_cross_entropy_grad",
    "cross_entropy_grad",
    "numerical_gradient",
    "gradient_check",
    "n_outputs",
    "init_params",
    "logits",
    "loss_and_grads",
    "predict_proba",
    "predict",
    "evaluate",
    "standardize",
    "minibatches",
    "dropout",
    "SGD",
    "Adam",
    "train",
    "keras_precision",
]
