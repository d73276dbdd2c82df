"""The snapshot callback: the model being inverted saved as arrays and figures every few
epochs, and its error against a known true model logged.

It writes files and draws with :mod:`keras_seismic.plotting`, so it stands with the
figures, above the Keras part (which :mod:`~keras_seismic.callbacks.multiscale` belongs
to); :mod:`keras_seismic.callbacks` gathers both under one name.
"""
import os
from pathlib import Path

import keras
import numpy as np

from ..grid import Grid
from .. import checks
from ..models import LSRTM

__all__ = ["VelocitySnapshot"]

_register = keras.saving.register_keras_serializable(package="keras_seismic")


@_register
class VelocitySnapshot(keras.callbacks.Callback):
    """Save the model being inverted every few epochs, and log its error.

    Every ``every`` epochs, writes ``velocity_{epoch:04d}.npy`` (the numpy array of
    ``model.velocity``, m/s, ``grid.shape``) and ``velocity_{epoch:04d}.png`` (drawn by
    :func:`keras_seismic.plotting.plot_velocity`) to ``directory``. ``epoch`` counts from 1,
    as in the progress bar and in ``keras.callbacks.ModelCheckpoint``: ``velocity_0001`` is
    the model after the first epoch. For an :class:`~keras_seismic.models.LSRTM` model the
    files are ``image_{epoch:04d}.npy`` / ``.png`` of ``model.image`` (drawn by
    :func:`~keras_seismic.plotting.plot_image`).

    With ``true_vp``, every epoch also adds ``model_error``, the relative L2 error
    ``||v - true_vp|| / ||true_vp||`` of the current model, to the epoch logs, where
    ``History``, ``CSVLogger``, ``EarlyStopping(monitor="model_error", mode="min")`` and
    the progress bar find it (list this callback before those that read the logs; Keras
    cannot guess the direction of a custom entry, hence ``mode="min"``). For LS-RTM,
    ``true_vp`` is the true image (velocity perturbation).

    Args:
        directory: where to write; created if missing.
        every: save every this many epochs (a whole number >= 1).
        true_vp: optional true model in m/s, of the model's shape, for ``model_error``;
            also fixes the colour scale of the velocity figures to its range.
        grid: the :class:`~keras_seismic.Grid` for the figures; by default the model's
            ``model.prop.grid`` (a grid of 1 m cells if the model has none).

    Attributes:
        files: the paths written so far (``.npy`` and ``.png``), in order.
        kind: ``"velocity"`` or ``"image"``, once training has started.

    Raises:
        ValueError: on a bad ``every``, at the start of training if the model has neither
            a ``velocity`` nor an ``image``, or if ``true_vp`` does not have its shape.

    Example:
        >>> snapshot = VelocitySnapshot("out", every=5, true_vp=true_vp)
        >>> history = model.fit(shots, observed, epochs=20,
        ...                     callbacks=[snapshot, keras.callbacks.CSVLogger("log.csv")])
        >>> history.history["model_error"]       # one value an epoch
        >>> np.load("out/velocity_0020.npy")     # the final model
    """

    def __init__(self, directory, every=1, true_vp=None, grid=None):
        super().__init__()
        if directory is None or str(directory) == "":
            raise ValueError("VelocitySnapshot: give the directory to write to")
        self.directory = Path(directory)
        self.every = checks.whole(every, "VelocitySnapshot: every", low=1)
        if true_vp is not None:
            true_vp = np.asarray(true_vp, dtype=np.float32)
            if not np.all(np.isfinite(true_vp)):
                raise ValueError("VelocitySnapshot: true_vp contains NaN or infinite values")
            if not np.any(true_vp):
                raise ValueError("VelocitySnapshot: true_vp is all zeros; the relative "
                                 "error is undefined")
        self.true_vp = true_vp
        if isinstance(grid, dict):
            grid = Grid.from_config(grid)
        if grid is not None and not isinstance(grid, Grid):
            raise TypeError(f"VelocitySnapshot: grid must be a keras_seismic.Grid; got "
                            f"{type(grid).__name__}")
        self.grid = grid
        self.files = []
        self.kind = None

    def _detect_kind(self):
        """Which field of the model to save: "velocity" (FWI) or "image" (LSRTM)."""
        if isinstance(self.model, LSRTM):
            return "image"
        for kind in ("velocity", "image"):
            if hasattr(type(self.model), kind) or kind in vars(self.model):
                return kind
        raise ValueError(f"VelocitySnapshot: the model {type(self.model).__name__} has no "
                         "`velocity` (FWI) or `image` (LSRTM) to save")

    def _field(self):
        if self.kind is None:
            self.kind = self._detect_kind()
        return np.asarray(getattr(self.model, self.kind), dtype=np.float32)

    def _grid(self, shape):
        if self.grid is not None:
            return self.grid
        grid = getattr(getattr(self.model, "prop", None), "grid", None)
        return grid if isinstance(grid, Grid) else Grid(shape, (1.0,) * len(shape))

    def on_train_begin(self, logs=None):
        self.kind = self._detect_kind()
        if self.true_vp is not None:
            shape = self._field().shape
            if self.true_vp.shape != shape:
                raise ValueError(f"VelocitySnapshot: true_vp has shape {self.true_vp.shape} "
                                 f"but the model's {self.kind} has shape {shape}")
        self.directory.mkdir(parents=True, exist_ok=True)

    def model_error(self, field=None):
        """The relative L2 error ``||v - true_vp|| / ||true_vp||`` of the current model (or
        of ``field``), or None without ``true_vp``."""
        if self.true_vp is None:
            return None
        field = self._field() if field is None else np.asarray(field)
        true = self.true_vp.astype(np.float64)
        return float(np.linalg.norm(field.astype(np.float64) - true) / np.linalg.norm(true))

    def on_epoch_end(self, epoch, logs=None):
        field = self._field()
        if self.true_vp is not None and logs is not None:
            logs["model_error"] = self.model_error(field)
        if (epoch + 1) % self.every == 0:
            self._save(field, epoch + 1)

    def _save(self, field, number):
        from .. import plotting   # matplotlib loads with the first figure, not on import

        stem = self.directory / f"{self.kind}_{number:04d}"
        np.save(stem.with_suffix(".npy"), field)
        grid = self._grid(field.shape)
        title = f"{self.kind} after epoch {number}"
        if self.kind == "image":
            figure = plotting.plot_image(field, grid, title=title)
        else:
            limits = {}
            if self.true_vp is not None:
                limits = dict(vmin=float(self.true_vp.min()), vmax=float(self.true_vp.max()))
            figure = plotting.plot_velocity(field, grid, title=title, **limits)
        plotting.save_figure(figure, stem.with_suffix(".png"))
        self.files += [stem.with_suffix(".npy"), stem.with_suffix(".png")]

    def get_config(self):
        return {"directory": os.fspath(self.directory), "every": self.every,
                "true_vp": None if self.true_vp is None else self.true_vp.tolist(),
                "grid": None if self.grid is None else self.grid.get_config()}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
