"""The propagator: a survey's wave-equation operators on numpy arrays, for any physics."""
from .propagator import AcousticPropagator, ForwardState

__all__ = ["AcousticPropagator", "ForwardState"]
