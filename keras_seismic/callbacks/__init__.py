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
from .multiscale import MultiscaleSchedule
from .snapshot import VelocitySnapshot

__all__ = ["VelocitySnapshot", "MultiscaleSchedule"]
