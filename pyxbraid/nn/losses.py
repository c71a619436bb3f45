"""Losses: value(pred, target) -> float and grad(pred, target) -> dL/dpred.

`takes_labels` says whether a target may be a vector of int class labels
instead of an array shaped like pred.
"""
import numpy as np

from pyxbraid.nn.registry import from_registry


def _same_shape(pred, target):
    pred, target = np.asarray(pred), np.asarray(target)
    if pred.shape != target.shape:
        raise ValueError(f"pred and target shapes differ: pred {pred.shape}, target {target.shape}")
    return pred, target


class SumSquaredError:
    """0.5 * sum((pred - target)^2): summed, not averaged, so that with a sigmoid
    output the step w - grad is Trask's/Schroder's XOR update exactly."""
    name = "sse"
    takes_labels = False

    def value(self, pred, target):
        pred, target = _same_shape(pred, target)
        return 0.5 * float(np.sum((pred - target) ** 2))

    def grad(self, pred, target):
        pred, target = _same_shape(pred, target)
        return pred - target


class MeanSquaredError:
    """mean((pred - target)^2) over all entries: independent of the batch size."""
    name = "mse"
    takes_labels = False

    def value(self, pred, target):
        pred, target = _same_shape(pred, target)
        return float(np.mean((pred - target) ** 2))

    def grad(self, pred, target):
        pred, target = _same_shape(pred, target)
        return (2.0 / pred.size) * (pred - target)


class SoftmaxCrossEntropy:
    """Mean over the batch of -log softmax(logits)[label]; softmax and the
    log are fused so that large logits neither overflow nor lose the gradient."""
    name = "softmax_cross_entropy"
    takes_labels = True

    def value(self, pred, target):
        log_probs, target = self._log_softmax(pred, target)
        batch = log_probs.shape[0]
        if target.ndim == 1:
            return -float(np.mean(log_probs[np.arange(batch), target]))
        return -float(np.sum(target * log_probs)) / batch

    def grad(self, pred, target):
        log_probs, target = self._log_softmax(pred, target)
        batch = log_probs.shape[0]
        grad = np.exp(log_probs)
        if target.ndim == 1:
            grad[np.arange(batch), target] -= 1.0
        else:
            grad -= target
        grad /= batch
        return grad

    @staticmethod
    def _log_softmax(pred, target):
        """log softmax of the rows of pred (shifted by the row max), and the
        checked target: int labels (batch,) or one-hot rows (batch, classes)."""
        pred, target = np.asarray(pred, dtype=np.float64), np.asarray(target)
        if pred.ndim != 2:
            raise ValueError(f"softmax cross-entropy: pred must be (batch, classes), "
                             f"got {pred.shape}")
        if target.shape == pred.shape[:1]:
            if not np.issubdtype(target.dtype, np.integer):
                raise ValueError(f"softmax cross-entropy: labels must be integers, "
                                 f"got {target.dtype}")
            if target.size and (target.min() < 0 or target.max() >= pred.shape[1]):
                raise ValueError(f"softmax cross-entropy: labels must lie in [0, {pred.shape[1]}), "
                                 f"got [{target.min()}, {target.max()}]")
        elif target.shape != pred.shape:
            raise ValueError(f"softmax cross-entropy: target must be labels {pred.shape[:1]} or "
                             f"one-hot {pred.shape}; pred {pred.shape}, target {target.shape}")
        shifted = pred - pred.max(axis=1, keepdims=True)
        shifted -= np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
        return shifted, target


LOSSES = {cls.name: cls for cls in (SumSquaredError, MeanSquaredError, SoftmaxCrossEntropy)}


def get_loss(name_or_instance):
    """A loss from its name, or the instance itself."""
    return from_registry(LOSSES, "loss", name_or_instance)
