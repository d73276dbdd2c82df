"""Keras constraints on physical models."""
import keras

__all__ = ["Box"]


@keras.saving.register_keras_serializable(package="keras_seismic")
class Box(keras.constraints.Constraint):
    """Keep a model between bounds after every optimizer step.

    Args:
        vmin: lower bound, e.g. in m/s.
        vmax: upper bound (> vmin).

    Example:
        >>> ks.layers.VelocityModel(vp0, constraint=ks.constraints.Box(1450.0, 4700.0))
    """

    def __init__(self, vmin, vmax):
        if not vmin < vmax:
            raise ValueError(f"Box: vmin must be below vmax; got vmin={vmin}, vmax={vmax}")
        self.vmin, self.vmax = float(vmin), float(vmax)

    def __call__(self, w):
        return keras.ops.clip(w, self.vmin, self.vmax)

    def get_config(self):
        return {"vmin": self.vmin, "vmax": self.vmax}
