"""Data misfits: how far predicted seismic data are from the observed data.

Every misfit here is a :class:`keras.losses.Loss`. Its inputs are the observed data
``y_true`` and the predicted data ``y_pred``, both of shape ``(batch, nt, nrec)`` or
``(batch, nt, nrec, 1)`` (a trailing channel axis is dropped); the batch axis holds shots,
axis 1 is time and axis 2 is the receiver. ``call`` returns one misfit a shot, ``(batch,)``.

The default reduction is ``"sum"``: the misfit of a batch is the sum of the misfits of its
shots, so that its gradient is the sum of the gradients of the shots (one adjoint solve each),
whatever the batch size. Keras's other reductions (``"sum_over_batch_size"``, ``"mean"``,
``None``, ...) are accepted.

The misfits compute in float32, even under a mixed-precision policy (float16 loses too much of
the dynamic range of seismic data); pass ``dtype="float64"`` for double precision.

Example:
    >>> import keras_seismic as ks
    >>> model.compile(optimizer="adam", loss=ks.losses.L2Misfit())

The package has two modules: :mod:`~keras_seismic.losses.misfits` (the losses) and
:mod:`~keras_seismic.losses.signal` (their differentiable signal processing).
"""
from .misfits import EnvelopeMisfit, FilteredMisfit, L2Misfit, NormalizedMisfit, StudentTMisfit

__all__ = ["L2Misfit", "NormalizedMisfit", "StudentTMisfit", "EnvelopeMisfit", "FilteredMisfit"]
