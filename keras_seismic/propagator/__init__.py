"""The propagator: a survey's wave-equation operators on numpy arrays, for any physics."""
from .propagator import AcousticPropagator, ForwardState, Propagator, from_config

__all__ = ["AcousticPropagator", "ForwardState", "Propagator", "from_config"]
