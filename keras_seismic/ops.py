"""TensorFlow ops for the wave-equation operators: the bridge between tensors and the numpy
propagator, and the only module where the two meet.

Each op is ``tf.custom_gradient`` around ``tf.py_function``: the forward pass runs a PDE
solve on numpy arrays and the backward pass runs the adjoint solve, so gradients are exact
and a graph can hold any number of these ops. Ops work eagerly and inside ``tf.function``.

The forward wavefield that a velocity gradient needs is stored by the forward pass (when
``keep`` is true, i.e. while training) in a small registry, handed to the backward pass by
an integer token, and freed there. Stored states that no backward pass claims are evicted
after a few newer ones, and a backward pass whose state is gone recomputes it.
"""
import threading
from collections import OrderedDict

import numpy as np
import tensorflow as tf

__all__ = ["modeling", "born", "migration", "extended_modeling", "extended_adjoint"]


class _StateRegistry:
    """Forward states awaiting their backward pass, oldest evicted first."""

    def __init__(self, max_pending=8):
        self._states, self._lock, self._next = OrderedDict(), threading.Lock(), 1
        self.max_pending = max_pending

    def put(self, state):
        with self._lock:
            token, self._next = self._next, self._next + 1
            self._states[token] = state
            while len(self._states) > self.max_pending:
                self._states.popitem(last=False)[1].release()
        return token

    def pop(self, token):
        with self._lock:
            return self._states.pop(int(token), None)

    def __len__(self):
        return len(self._states)


STATES = _StateRegistry()
_NO_STATE = 0


def _pde_op(forward, backward, inputs, shots, out_shape):
    """A differentiable op from numpy functions.

    Args:
        forward: ``forward(shots, *inputs) -> (output, token)`` on numpy arrays.
        backward: ``backward(shots, token, dy, *inputs) -> [gradient of each input]``.
        inputs: float32 tensors; shots: int64 tensor (batch,).
        out_shape: static output shape (batch may be None).
    """
    @tf.custom_gradient
    def op(*xs):
        y, token = tf.py_function(
            lambda s, *a: forward(s.numpy(), *[t.numpy() for t in a]),
            [shots, *xs], [tf.float32, tf.int64])
        y = tf.ensure_shape(y, out_shape)

        def grad(dy):
            grads = tf.py_function(
                lambda s, k, d, *a: backward(s.numpy(), k.numpy(), d.numpy(),
                                             *[t.numpy() for t in a]),
                [shots, token, dy, *xs], [tf.float32] * len(xs))
            return [tf.ensure_shape(g, x.shape) for g, x in zip(grads, xs)]

        return y, grad

    return op(*inputs)


def _shared(field):
    """Whether one field (a leading axis of 1) serves every sample of the batch, as the
    velocity of FWI and the image of LS-RTM do. Its gradient is then the sum over the
    batch's shots, which a DaskExecutor adds up on the workers (a tree reduction) rather
    than sending every shot's gradient here."""
    return field.shape[0] == 1


def _field_gradient(field, gradient):
    """A gradient computed with ``reduce=_shared(field)``, in the shape of ``field``."""
    return gradient[None] if _shared(field) else gradient


def _velocity(vp):
    """A batch of velocities (n, *grid) as one model when it is shared or all samples are
    equal, so that it is padded and sent to workers once."""
    return vp[0] if _shared(vp) or np.all(vp == vp[:1]) else vp


def _take_state(token, recompute):
    state = STATES.pop(token) if token != _NO_STATE else None
    return state if state is not None else recompute()


def _data_shape(prop, batch):
    return (batch, *prop.data_shape)


def modeling(prop, vp, shots, wavelet=None, keep=True, velocity_gradient=True):
    """Nonlinear modeling ``d = F(vp)`` of the shots, differentiable in vp (and wavelet).

    Args:
        prop: an AcousticPropagator.
        vp: float32 (batch, *grid.shape) velocity in m/s.
        shots: int (batch,) survey shot of each sample.
        wavelet: optional float32 (batch, nsrc, nt) source wavelets (source estimation).
        keep: store the forward wavefield for the backward pass (training).
        velocity_gradient: False when vp is fixed: nothing is stored, and the backward
            pass only computes the wavelet gradient (a plain adjoint solve).

    Returns:
        float32 (batch, nt, nrec).
    """
    inputs = [vp] if wavelet is None else [vp, wavelet]
    store = keep and velocity_gradient

    def forward(s, v, w=None):
        if not store:
            return prop.forward(_velocity(v), s, wavelet=w), _NO_STATE
        data, state = prop.forward_with_state(_velocity(v), s, wavelet=w)
        return data, STATES.put(state)

    def backward(s, token, dy, v, w=None):
        if not velocity_gradient:
            g_w = None if w is None else prop.wavelet_adjoint(_velocity(v), dy, s)
            return [np.zeros_like(v)] + ([] if w is None else [g_w.reshape(w.shape)])
        state = _take_state(token, lambda: prop.forward_with_state(_velocity(v), s,
                                                                   wavelet=w)[1])
        try:
            if w is None:
                return [_field_gradient(v, prop.gradient(state, dy, reduce=_shared(v)))]
            g_vp, g_w = prop.gradient(state, dy, wavelet=True, reduce=_shared(v))
            return [_field_gradient(v, g_vp), g_w.reshape(w.shape)]
        finally:
            state.release()

    return _pde_op(forward, backward, inputs, shots, _data_shape(prop, shots.shape[0]))


def born(prop, vp0, dvp, shots):
    """Linearised modeling ``J(vp0) dvp`` (batch, *grid) -> (batch, nt, nrec); its gradient
    is the migration of ``dy``. ``vp0`` (grid.shape) is not differentiated."""
    def forward(s, v0, dv):
        return prop.born(v0, dv[0] if _shared(dv) else dv, s), _NO_STATE

    def backward(s, token, dy, v0, dv):
        image = prop.born_adjoint(v0, dy, s, reduce=_shared(dv))
        return [np.zeros_like(v0), _field_gradient(dv, image)]

    return _pde_op(forward, backward, [vp0, dvp], shots, _data_shape(prop, shots.shape[0]))


def migration(prop, vp0, data, shots):
    """Migration (adjoint Born) of each sample ``J(vp0)^T d`` (batch, nt, nrec) ->
    (batch, *grid); its gradient is Born modeling of ``dy``."""
    def forward(s, v0, d):
        return prop.born_adjoint(v0, d, s, reduce=False), _NO_STATE

    def backward(s, token, dy, v0, d):
        return [np.zeros_like(v0), prop.born(v0, dy, s)]

    return _pde_op(forward, backward, [vp0, data], shots,
                   (data.shape[0], *prop.grid.shape))


def extended_modeling(prop, weights, vp, shots, keep=True, velocity_gradient=True):
    """Extended-source modeling ``d = E(vp) w`` (batch, *grid) -> (batch, nt, nrec),
    differentiable in the weights and (if ``velocity_gradient``) the velocity."""
    store = keep and velocity_gradient

    def forward(s, w, v):
        data, state = prop.forward_with_state(_velocity(v), s, weights=w, keep=store)
        return data, STATES.put(state) if store else _NO_STATE

    def backward(s, token, dy, w, v):
        if not velocity_gradient:
            return [prop.extended_adjoint(_velocity(v), dy, s), np.zeros_like(v)]
        state = _take_state(token, lambda: prop.forward_with_state(
            _velocity(v), s, weights=w)[1])
        try:
            # One adjoint solve gives both: the weights gradient is its extended output.
            g_vp, g_w = prop.gradient(state, dy, wavelet=True, reduce=_shared(v))
            return [g_w, _field_gradient(v, g_vp)]
        finally:
            state.release()

    return _pde_op(forward, backward, [weights, vp], shots,
                   _data_shape(prop, weights.shape[0]))


def extended_adjoint(prop, data, vp, shots, velocity_gradient=True):
    """Adjoint extended-source modeling ``w = E(vp)^T d`` (batch, nt, nrec) ->
    (batch, *grid), differentiable in the data and (if ``velocity_gradient``) the velocity:
    ``d<dy, E^T d>/dvp`` is the velocity gradient of extended modeling of ``dy``."""
    def forward(s, d, v):
        return prop.extended_adjoint(_velocity(v), d, s), _NO_STATE

    def backward(s, token, dy, d, v):
        if not velocity_gradient:
            return [prop.extended_forward(_velocity(v), dy, s), np.zeros_like(v)]
        g_d, state = prop.forward_with_state(_velocity(v), s, weights=dy)
        try:
            return [g_d, _field_gradient(v, prop.gradient(state, d, reduce=_shared(v)))]
        finally:
            state.release()

    return _pde_op(forward, backward, [data, vp], shots,
                   (data.shape[0], *prop.grid.shape))
