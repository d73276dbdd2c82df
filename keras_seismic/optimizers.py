"""Quasi-Newton full-waveform inversion: L-BFGS from tensorflow-probability on the
inverted fields of a :class:`keras_seismic.models.FWI` model."""
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from .losses import L2Misfit

__all__ = ["lbfgs"]


def lbfgs(model, shots, observed, max_iterations=10, loss=None, tolerance=1e-12,
          num_correction_pairs=10):
    """Minimise the data misfit of an FWI model with ``tfp.optimizer.lbfgs_minimize``.

    Every evaluation models all ``shots`` (one forward and one adjoint solve a shot). It
    inverts the model's inverted fields (``model.fields``) together. The box of each,
    ``model.bounds[name]`` (vmin and vmax for the velocity), holds through the
    reparametrisation ``field = low + (high - low) * sigmoid(x)``, so no step can leave
    it. The model's mask (and with it FWI's ``precondition``) scales the steps, and cells
    where it is 0 keep their starting value. The model's fields are updated in place.

    Args:
        model: a compiled or uncompiled :class:`~keras_seismic.models.FWI`.
        shots: shot indices ``(n,)``.
        observed: observed data ``(n, nt, nrec)``.
        max_iterations: L-BFGS iterations (each needs one or more evaluations).
        loss: misfit, default :class:`~keras_seismic.losses.L2Misfit`.
        tolerance: stop when the gradient's max-norm falls below it.
        num_correction_pairs: L-BFGS memory.

    Returns:
        dict: ``loss`` (misfit at every evaluation), ``evaluations`` (number of misfit and
        gradient evaluations, i.e. forward + adjoint solves a shot) and ``converged``.

    Example:
        >>> model = ks.models.FWI(prop, smooth_vp, 1450.0, 4700.0)
        >>> result = ks.optimizers.lbfgs(model, np.arange(prop.nshots), observed, 20)
        >>> model.velocity
    """
    loss = loss or L2Misfit()
    shots = tf.constant(np.asarray(shots, np.int64))
    observed = tf.constant(np.asarray(observed, np.float32))
    if observed.shape[0] != shots.shape[0]:
        raise ValueError(f"lbfgs: {shots.shape[0]} shots but observed data for "
                         f"{observed.shape[0]}")
    inverted = [_Reparametrised(name, model.field_models[name], *model.bounds[name])
                for name in model.fields]
    fixed = {name: tf.cast(tf.convert_to_tensor(layer.velocity), tf.float32)[None]
             for name, layer in model.field_models.items() if name not in model.fields}
    sizes = [p.size for p in inverted]
    # The optimiser works in float64 on the misfit relative to its starting value, so that
    # its first step and its line search see numbers of order one.
    # tfp reads leading axes as a batch of problems: the position is one flat vector.
    y0 = tf.zeros(sum(sizes), tf.float64)
    history, scale, last = [], [], {}

    def fields(y):
        parts = tf.split(y, sizes)
        current = {p.name: p.field(part)[None] for p, part in zip(inverted, parts)}
        current.update(fixed)
        return current if len(current) > 1 else next(iter(current.values()))

    def value_and_gradients(y):
        # The line search may ask for the same point again: solve the PDEs once.
        key = y.numpy().tobytes()
        if key not in last:
            last.clear()
            last[key] = _evaluate(y)
        return last[key]

    def _evaluate(y):
        with tf.GradientTape() as tape:
            tape.watch(y)
            # One model for every shot (batch axis 1): the gradient comes back summed.
            misfit = loss(observed, model.modeling([fields(y), shots], training=True))
            history.append(float(misfit))
            if not scale:
                scale.append(max(history[0], 1e-30))
            relative = tf.cast(misfit, tf.float64) / scale[0]
        return relative, tape.gradient(relative, y)

    result = tfp.optimizer.lbfgs_minimize(
        value_and_gradients, y0, max_iterations=max_iterations, tolerance=tolerance,
        num_correction_pairs=num_correction_pairs)
    for p, part in zip(inverted, tf.split(result.position, sizes)):
        p.layer.velocity.assign(tf.cast(p.field(part), p.layer.velocity.dtype))
    return {"loss": history, "evaluations": len(history),
            "converged": bool(result.converged)}


class _Reparametrised:
    """An inverted field in the optimiser's variables ``y`` (0 at the start):

    * ``field = low + (high - low) * sigmoid(x)`` keeps it inside its box;
    * ``x = x0 + sqrt(mask) * y`` makes the mask (with FWI's ``precondition``, a gradient
      scale from 0 to 1) a preconditioner: the gradient in ``y`` is the gradient in ``x``
      times ``sqrt(mask)``, so a steepest-descent step in ``y`` moves ``x`` by ``mask``
      times the gradient, and the misfit and its gradient stay consistent for the line
      search;
    * cells where the mask is 0 keep their exact starting value.
    """

    def __init__(self, name, layer, low, high):
        self.name, self.layer, self.low, self.high = name, layer, low, high
        self.start = np.clip(layer.velocity.numpy(), low, high).astype(np.float32)
        self.frozen = None if layer.mask is None else (layer.mask == 0).astype(np.float32)
        fraction = np.clip((self.start - low) / (high - low), 1e-4, 1 - 1e-4)
        self.x0 = np.log(fraction / (1 - fraction)).ravel()
        self.root = None if layer.mask is None else np.sqrt(layer.mask).ravel()
        self.size = self.x0.size

    def field(self, y):
        x = self.x0 + (y if self.root is None else self.root * y)
        value = tf.reshape(tf.cast(self.low + (self.high - self.low) * tf.sigmoid(x),
                                   tf.float32), self.start.shape)
        return value if self.frozen is None else \
            self.frozen * self.start + (1 - self.frozen) * value
