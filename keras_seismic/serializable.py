"""The package's Keras-serializable classes, known to Keras before their modules load.

``import keras_seismic`` imports neither Keras nor TensorFlow, so that the command line
and Dask workers start in a second. ``keras.models.load_model`` must still find the
package's layers, models, losses, constraints and callbacks in a process that has only
imported ``keras_seismic``. So, as soon as Keras is imported (at once if it already is),
:func:`register` gives Keras a stand-in for each of them: its ``from_config`` imports the
module of the real class, whose decorator then registers the class itself in the
stand-in's place, and builds the object from it. Until a model is loaded, nothing more is
imported.
"""
import importlib

PACKAGE = "keras_seismic"

# Each class registered with ``register_keras_serializable(package=PACKAGE)``, and the
# module that defines it (tests check this list against what the modules register).
CLASSES = {
    "Modeling": "layers", "Born": "layers", "Migration": "layers",
    "ExtendedSourceModeling": "layers", "ExtendedSourceAdjoint": "layers",
    "VelocityModel": "layers",
    "FWI": "models", "LSRTM": "models",
    "Box": "constraints",
    "L2Misfit": "losses.misfits", "NormalizedMisfit": "losses.misfits",
    "StudentTMisfit": "losses.misfits", "EnvelopeMisfit": "losses.misfits",
    "FilteredMisfit": "losses.misfits",
    "VelocitySnapshot": "callbacks.snapshot", "MultiscaleSchedule": "callbacks.multiscale",
}


class _StandIn:
    """What Keras finds under a class's registered name until its module is imported."""

    def __init__(self, name, module):
        self.name, self.module = name, module

    def load(self):
        """The real class (importing its module registers it in this stand-in's place)."""
        return getattr(importlib.import_module(f"{PACKAGE}.{self.module}"), self.name)

    def from_config(self, config):
        return self.load().from_config(config)

    def __repr__(self):
        return f"<stand-in for {PACKAGE}.{self.module}.{self.name}>"


def register(keras):
    """Give Keras a stand-in for every class of the package it does not know yet.

    Args:
        keras: the imported ``keras`` module (this is wrapt's post-import hook).
    """
    known = keras.saving.get_custom_objects()
    for name, module in CLASSES.items():
        known.setdefault(f"{PACKAGE}>{name}", _StandIn(name, module))
