"""Keras callbacks for seismic inversion: snapshots of the model being inverted, its error
against a known true model, and multiscale (low-to-high frequency) schedules.

The standard Keras callbacks work with :class:`~keras_seismic.models.FWI` and
:class:`~keras_seismic.models.LSRTM` as with any Keras model (``CSVLogger``,
``EarlyStopping``, ``BackupAndRestore``, ...). The callbacks here add entries to the epoch
logs (``model_error``, ``cutoff``); list them *before* the callbacks that read the logs
(``CSVLogger``, ``EarlyStopping``, ``ModelCheckpoint``) so that those see the entries.
``History`` and the progress bar always come last.

Example:
    >>> from keras_seismic import callbacks
    >>> loss = ks.losses.FilteredMisfit(dt=survey.dt)
    >>> model.compile(optimizer=keras.optimizers.Adam(20.0), loss=loss)
    >>> model.fit(shots, observed, batch_size=2, epochs=9, callbacks=[
    ...     callbacks.MultiscaleSchedule([3.0, 6.0, None], epochs_per_stage=3),
    ...     callbacks.VelocitySnapshot("snapshots", every=3, true_vp=true_vp),
    ...     keras.callbacks.CSVLogger("history.csv")])
"""
import math
import os
from pathlib import Path

import keras
import numpy as np

from .grid import Grid
from .losses import FilteredMisfit, _whole
from .models import LSRTM

__all__ = ["VelocitySnapshot", "MultiscaleSchedule"]

_register = keras.saving.register_keras_serializable(package="keras_seismic")


# ----------------------------------------------------------------------------- snapshots

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
        self.every = _whole("VelocitySnapshot", "every", every)
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
        from . import plotting   # plotting (matplotlib) is a layer above; import when used

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


# ----------------------------------------------------------------------------- multiscale

@_register
class MultiscaleSchedule(keras.callbacks.Callback):
    """Multiscale FWI: invert the low frequencies first, then raise the cutoff.

    Drives the cutoff of a :class:`~keras_seismic.losses.FilteredMisfit` (the model's
    compiled loss, ``model.loss``): at the start of each epoch it sets the cutoff of the
    stage the epoch belongs to, and at its end it adds ``cutoff`` (Hz; ``inf`` for the
    unfiltered stage) to the epoch logs. The loss reads the cutoff from a variable, so the
    training step is not retraced. Epochs count from 0 as in Keras, so a run resumed by
    ``BackupAndRestore`` (or started with ``initial_epoch``) picks up the right stage.
    After training, the loss keeps the cutoff of the last stage it reached.

    The misfit is smaller when fewer frequencies are compared, so ``loss`` jumps up at
    each stage; monitor ``model_error`` (see :class:`VelocitySnapshot`) or use a patience
    longer than a stage with ``EarlyStopping``.

    Args:
        cutoffs: the cutoff frequencies of the stages in Hz, positive and strictly
            increasing; the last may be None for the full band (no filtering).
        epochs_per_stage: the number of epochs of each stage: one whole number for all, or
            one a stage. The last stage lasts until the end of training.
        boundaries: instead of ``epochs_per_stage``: the (0-based) epochs at which stages
            2, 3, ... start, ``len(cutoffs) - 1`` strictly increasing whole numbers >= 1.
        loss: the FilteredMisfit to drive; by default ``model.loss``.
        verbose: 1 to print the cutoff when a stage starts.

    Raises:
        ValueError: on cutoffs that are empty, not positive or not increasing; on both or
            neither of ``epochs_per_stage`` and ``boundaries``, or on bad values of them;
            at the start of training if the loss is not a FilteredMisfit or a cutoff is at
            or above its Nyquist frequency (use None for the full band).

    Example:
        >>> model.compile(optimizer=keras.optimizers.Adam(20.0),
        ...               loss=ks.losses.FilteredMisfit(dt=survey.dt))
        >>> schedule = MultiscaleSchedule([3.0, 6.0, None], epochs_per_stage=5)
        >>> history = model.fit(shots, observed, epochs=15, callbacks=[schedule])
        >>> history.history["cutoff"]    # [3.0] * 5 + [6.0] * 5 + [inf] * 5
    """

    def __init__(self, cutoffs, epochs_per_stage=None, boundaries=None, loss=None,
                 verbose=0):
        super().__init__()
        self.cutoffs = self._check_cutoffs(cutoffs)
        n = len(self.cutoffs)
        if (epochs_per_stage is None) == (boundaries is None):
            raise ValueError("MultiscaleSchedule: give exactly one of epochs_per_stage and "
                             "boundaries")
        if epochs_per_stage is not None:
            if np.ndim(epochs_per_stage) == 0:
                epochs_per_stage = [epochs_per_stage] * n
            epochs_per_stage = list(epochs_per_stage)
            if len(epochs_per_stage) != n:
                raise ValueError(f"MultiscaleSchedule: epochs_per_stage needs one number a "
                                 f"stage ({n}); got {len(epochs_per_stage)}")
            epochs_per_stage = [_whole("MultiscaleSchedule", "epochs_per_stage", e)
                                for e in epochs_per_stage]
            boundaries = np.cumsum(epochs_per_stage[:-1]).tolist()
        else:
            boundaries = [_whole("MultiscaleSchedule", "boundaries", b)
                          for b in (list(boundaries) if np.ndim(boundaries) else [boundaries])]
            if len(boundaries) != n - 1:
                raise ValueError(f"MultiscaleSchedule: boundaries needs len(cutoffs) - 1 = "
                                 f"{n - 1} epochs; got {len(boundaries)}")
            if any(b >= c for b, c in zip(boundaries, boundaries[1:])):
                raise ValueError(f"MultiscaleSchedule: boundaries must be strictly "
                                 f"increasing; got {boundaries}")
        self.epochs_per_stage = epochs_per_stage
        self.boundaries = [int(b) for b in boundaries]
        if loss is not None and not isinstance(loss, FilteredMisfit):
            raise ValueError(f"MultiscaleSchedule: loss must be a "
                             f"keras_seismic.losses.FilteredMisfit; got {type(loss).__name__}")
        self.loss = loss
        self.verbose = int(verbose)
        self._active_loss = None
        self._stage = None

    @staticmethod
    def _check_cutoffs(cutoffs):
        if cutoffs is None or np.ndim(cutoffs) != 1 or len(cutoffs) == 0:
            raise ValueError(f"MultiscaleSchedule: cutoffs must be a non-empty list of "
                             f"frequencies in Hz; got {cutoffs!r}")
        cutoffs = list(cutoffs)
        checked = []
        for i, cutoff in enumerate(cutoffs):
            if cutoff is None:
                if i != len(cutoffs) - 1:
                    raise ValueError("MultiscaleSchedule: only the last cutoff may be None "
                                     f"(the full band); got {cutoffs}")
                checked.append(None)
                continue
            try:
                value = float(cutoff)
            except (TypeError, ValueError):
                raise ValueError(f"MultiscaleSchedule: cutoffs must be numbers in Hz (or "
                                 f"None last); got {cutoffs}") from None
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"MultiscaleSchedule: cutoffs must be positive finite "
                                 f"frequencies in Hz; got {cutoffs}")
            checked.append(value)
        numbers = [c for c in checked if c is not None]
        if any(b <= a for a, b in zip(numbers, numbers[1:])):
            raise ValueError(f"MultiscaleSchedule: cutoffs must be strictly increasing (low "
                             f"to high frequencies); got {cutoffs}")
        return checked

    def stage_at(self, epoch):
        """The 0-based stage of the 0-based ``epoch``."""
        return int(np.searchsorted(self.boundaries, int(epoch), side="right"))

    def cutoff_at(self, epoch):
        """The cutoff in Hz (None for the full band) of the 0-based ``epoch``."""
        return self.cutoffs[self.stage_at(epoch)]

    def _find_loss(self):
        loss = self.loss if self.loss is not None else getattr(self.model, "loss", None)
        if not isinstance(loss, FilteredMisfit):
            raise ValueError(
                "MultiscaleSchedule: the model must be compiled with a "
                "keras_seismic.losses.FilteredMisfit loss (or pass loss=...); its loss is "
                f"{type(loss).__name__ if loss is not None else None}, e.g. "
                "model.compile(loss=ks.losses.FilteredMisfit(dt=survey.dt))")
        for cutoff in self.cutoffs:
            if cutoff is not None and cutoff >= loss.nyquist:
                raise ValueError(
                    f"MultiscaleSchedule: cutoff {cutoff} Hz is at or above the Nyquist "
                    f"frequency {loss.nyquist:g} Hz of the data (dt = {loss.dt:g} s), where "
                    "it no longer filters; use None as the last cutoff for the full band")
        return loss

    def on_train_begin(self, logs=None):
        self._active_loss = self._find_loss()
        self._stage = None

    def on_epoch_begin(self, epoch, logs=None):
        if self._active_loss is None:          # on_train_begin not called (custom loops)
            self._active_loss = self._find_loss()
        stage = self.stage_at(epoch)
        self._active_loss.cutoff = self.cutoffs[stage]
        if self.verbose and stage != self._stage:
            cutoff = self.cutoffs[stage]
            band = "full band" if cutoff is None else f"cutoff {cutoff:g} Hz"
            print(f"\nEpoch {epoch + 1}: MultiscaleSchedule stage {stage + 1}/"
                  f"{len(self.cutoffs)}, {band}.")
        self._stage = stage

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            cutoff = self.cutoffs[self.stage_at(epoch)]
            logs["cutoff"] = math.inf if cutoff is None else float(cutoff)

    def get_config(self):
        config = {"cutoffs": list(self.cutoffs), "verbose": self.verbose}
        if self.epochs_per_stage is not None:
            config["epochs_per_stage"] = list(self.epochs_per_stage)
        else:
            config["boundaries"] = list(self.boundaries)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)
