"""The multiscale callback: the cutoff of a :class:`~keras_seismic.losses.FilteredMisfit`
raised stage by stage during ``fit``, from the low frequencies to the full band."""
import math

import keras
import numpy as np

from .. import checks
from ..losses.misfits import FilteredMisfit

__all__ = ["MultiscaleSchedule"]

_register = keras.saving.register_keras_serializable(package="keras_seismic")


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
            epochs_per_stage = [checks.whole(e, "MultiscaleSchedule: epochs_per_stage", low=1)
                                for e in epochs_per_stage]
            boundaries = np.cumsum(epochs_per_stage[:-1]).tolist()
        else:
            boundaries = [checks.whole(b, "MultiscaleSchedule: boundaries", low=1)
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
