"""The physics plug-in: what one wave equation declares, so that the propagator, the layers,
the models and the command line run it without knowing it.

A wave equation is a :class:`WaveEquation` with

* its named physical :class:`Parameter` fields, in order, with units and bounds;
* the kernel fields they become (``m = 1/vp^2``, ``b = 1/rho``, ...) and the chain rules
  back (:meth:`~WaveEquation.media`, :meth:`~WaveEquation.perturbation`,
  :meth:`~WaveEquation.gradient`);
* its stability limit and the speeds that set the dispersion rule
  (:meth:`~WaveEquation.speeds`, :meth:`~WaveEquation.stability`);
* which parameters it linearises (Born and gradients): all, unless some are ``fixed``;
* the forward wavefields its imaging conditions read (``stored``), the fields its adjoint
  accumulates into besides the images (``scratch``), and how far its spatial operator
  reaches (:meth:`~WaveEquation.reach`);
* its Devito operators: forward, Born with respect to any subset of its kernel fields,
  and the adjoint with the imaging condition of each (in the physics' own module, the
  only place with its Devito equations).

Adding a physics is a module defining a subclass and one line in ``registry.py``.
"""
from dataclasses import dataclass

import numpy as np

__all__ = ["Parameter", "WaveEquation"]


@dataclass(frozen=True)
class Parameter:
    """A physical field of a wave equation.

    Args:
        name: its key in a model dict, e.g. ``"vp"``.
        unit: SI unit, e.g. ``"m/s"``.
        bounds: ``(low, high)``: the admissible values, ``low < value <= high``.
        default: a typical value (a starting guess, or the value of a constant field).
        kernel: the name of the kernel field it becomes, e.g. ``"m"``.
        description: a few words for messages and docs.
    """

    name: str
    unit: str
    bounds: tuple
    default: float
    kernel: str
    description: str


class WaveEquation:
    """The protocol of a physics plug-in; subclasses fill in the class attributes and the
    operators. Models are dicts of float32 fields keyed by :attr:`names`, each of the
    physical grid's shape; kernel fields are on the padded grid.

    Args:
        ndim: 2 or 3 (a physics may have more parameters in 3-D).
    """

    #: The name of the physics in ``ks.Propagator(..., physics=name)``.
    name = None
    #: Its :class:`Parameter` fields, in order.
    parameters = ()
    #: What the receivers record.
    records = "pressure"
    #: Parameters held fixed: no Born modeling or gradient with respect to them.
    fixed = ()
    #: The forward wavefields the imaging conditions read, stored as ``<name>save``.
    stored = ("u",)
    #: Whether an imaging condition takes spatial differences of the stored forward field
    #: (which then needs a halo).
    stored_halo = False
    #: Fields (besides the images) that the imaging conditions accumulate into and read
    #: themselves; the solver gives the adjoint operator them zeroed.
    scratch = ()
    #: Fields that every operator computes itself before its time loop (coefficients of
    #: the step, besides the :class:`~keras_seismic.physics.fields.Mass`); the solver
    #: allocates them.
    coefficients = ()

    def __init__(self, ndim=2):
        self.ndim = ndim

    @property
    def names(self):
        return tuple(p.name for p in self.parameters)

    @property
    def linearised(self):
        """The parameters with Born modeling and gradients, in order."""
        return tuple(n for n in self.names if n not in self.fixed)

    def reach(self, space_order):
        """How many cells the spatial operator reaches from a point: one centred
        Laplacian reaches ``space_order // 2``; a free surface needs as many mirror rows."""
        return space_order // 2

    def parameter(self, name):
        return self.parameters[self.names.index(name)]

    def kernel_fields(self, names):
        """The kernel fields of the parameters ``names``, in order."""
        return tuple(self.parameter(n).kernel for n in self.names if n in names)

    # -- validity, stability, dispersion (numpy, physical grid) ---------------------------
    def check(self, model, space_order):
        """Raise ValueError if a model the generic checks accepted (finite, in bounds) is
        still outside what the kernels can run; by default nothing is."""

    def speeds(self, model):
        """``(slowest, fastest)`` wave speed in m/s of a model: the fastest sets the time
        step, the slowest the points per wavelength."""
        return float(np.min(model["vp"])), float(np.max(model["vp"]))

    def stability(self, model, space_order):
        """Factor (<= 1) on the time step that the fastest speed allows with the
        constant-coefficient stencil; 1 unless the physics' stencil is stiffer."""
        return 1.0

    # -- kernel fields and chain rules (numpy, padded grid) --------------------------------
    def media(self, model, padding, spacing, frequency):
        """The kernel fields of a model, float32 on the padded grid (of cells of
        ``spacing`` m), for a wavelet of peak ``frequency`` (Hz)."""
        return {p.kernel: self._pad(padding, self.to_kernel(p.name, model[p.name]), p.name)
                for p in self.parameters}

    def perturbation(self, model, dmodel, padding, spacing):
        """The kernel-field perturbations ``{"d" + kernel: field}`` of a perturbation
        ``dmodel`` of some of the parameters (the chain rule, linearised at ``model``)."""
        return {"d" + self.parameter(n).kernel: self._pad(
                    padding, self.derivative(n, model[n]) * dmodel[n], n)
                for n in self.names if n in dmodel}

    def gradient(self, model, images, padding):
        """The gradients of the physical parameters from the kernel fields' images
        ``{kernel: padded image}`` (those present): the transpose of :meth:`perturbation`.
        """
        out = {}
        for p in self.parameters:
            if p.kernel in images:
                folded = padding.pad_adjoint(images[p.kernel], mirror=self.mirrored(p.name))
                out[p.name] = (folded * self.derivative(p.name, model[p.name])
                               ).astype(np.float32)
        return out

    def to_kernel(self, name, value):
        """The kernel field of parameter ``name`` (float64 in, float64 out)."""
        raise NotImplementedError

    def derivative(self, name, value):
        """d(kernel field)/d(parameter) of parameter ``name``, pointwise."""
        raise NotImplementedError

    def mirrored(self, name):
        """Whether the kernels read parameter ``name`` above a free surface (its padding
        there mirrors the values below, so that the stencil stays symmetric); a field
        read only where the equation is solved is not."""
        return False

    def _pad(self, padding, value, name):
        return padding.pad(value, mirror=self.mirrored(name)).astype(np.float32)
