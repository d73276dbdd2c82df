"""TensorFlow ops for the wave-equation operators: the bridge between tensors and the numpy
propagator, and the only module where the two meet.

Each op is ``tf.custom_gradient`` around ``tf.py_function`` (called directly when eager):
the forward pass runs a PDE solve on numpy arrays and the backward pass runs the adjoint
solve, so gradients are exact and a graph can hold any number of these ops. Ops work eagerly
and inside ``tf.function``.

A model is one tensor (a one-parameter physics) or a dict of tensors keyed by
``prop.parameters``, each ``(batch, *grid.shape)``; a batch of 1 is one model shared by
every shot of the batch (its gradient is then the sum over the shots, which a
DaskExecutor adds up on the workers rather than sending every shot's gradient here).
Every field the physics linearises gets its gradient, unless ``fields`` names a subset:
the others (and the fields a physics holds fixed) get zeros.

The forward wavefield that a model gradient needs is stored by the forward pass (when
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


def _pde_op(forward, backward, inputs, shots, out_shapes):
    """A differentiable op from numpy functions.

    Args:
        forward: ``forward(shots, *inputs) -> ([outputs], token)`` on numpy arrays.
        backward: ``backward(shots, token, [output gradients], *inputs) -> [gradient of
            each input]``.
        inputs: float32 tensors; shots: int64 tensor (batch,).
        out_shapes: the static shape of each output (batch may be None).

    Returns:
        the list of output tensors.
    """
    n_out = len(out_shapes)

    @tf.custom_gradient
    def op(*xs):
        results = _numpy_call(lambda s, *a: _flat(forward(s, *a)), [shots, *xs],
                              [tf.float32] * n_out + [tf.int64])
        ys = [tf.ensure_shape(y, shape) for y, shape in zip(results[:n_out], out_shapes)]
        token = results[n_out]

        def grad(*dys):
            # An output that nothing depends on has no gradient: it contributes zero.
            dys = [tf.zeros_like(y) if d is None else d for d, y in zip(dys, ys)]
            grads = _numpy_call(lambda s, k, *a: backward(s, k, list(a[:n_out]), *a[n_out:]),
                                [shots, token, *dys, *xs], [tf.float32] * len(xs))
            return [tf.ensure_shape(g, x.shape) for g, x in zip(grads, xs)]

        return ys, grad

    return op(*inputs)


def _numpy_call(function, tensors, dtypes):
    """``function`` applied to the numpy values of ``tensors``; its results as tensors of
    ``dtypes``. A graph runs it through ``tf.py_function``; eagerly it is called at once,
    since a ``py_function`` costs 1-3 ms a call of its own (2-3% of a 0.09 s solve)."""
    if tf.executing_eagerly():
        return [tf.convert_to_tensor(r, d)
                for r, d in zip(function(*[t.numpy() for t in tensors]), dtypes)]
    return tf.py_function(lambda *a: function(*[t.numpy() for t in a]), tensors, dtypes)


def _flat(result):
    outputs, token = result
    return [*outputs, token]


# -- models: tensors in, numpy dicts out, gradients back ----------------------------------
def _names(prop, model):
    """The field names of a model or perturbation (a dict, or one tensor: the first
    parameter's), in the physics' order."""
    if not isinstance(model, dict):
        return prop.parameters[:1]
    unknown = [k for k in model if k not in prop.parameters]
    if unknown:
        raise ValueError(f"the model has the fields {tuple(model)}; the physics has "
                         f"{prop.parameters}")
    return tuple(n for n in prop.parameters if n in model)


def _tensors(model, names):
    return [model[n] for n in names] if isinstance(model, dict) else [model]


def _shared(field):
    """Whether one field (a leading axis of 1) serves every sample of the batch."""
    return field.shape[0] == 1


def _batch_field(field):
    """A batch of fields (n, *grid) as one field when it is shared or all samples are
    equal, so that it is padded and sent to workers once."""
    return field[0] if _shared(field) or np.all(field == field[:1]) else field


def _model(names, arrays, batched=True):
    return {n: _batch_field(a) if batched else a for n, a in zip(names, arrays)}


def _reduces(arrays):
    """Whether every field is shared, so that the propagator sums the gradients."""
    return all(_shared(a) for a in arrays)


def _gradients(grad, names, arrays, reduced):
    """The gradient of each field of ``names`` in the shape of its batch in ``arrays``;
    zeros for a field whose gradient was not computed."""
    grad = grad if isinstance(grad, dict) else {names[0]: grad}
    out = []
    for name, a in zip(names, arrays):
        if name not in grad:
            out.append(np.zeros_like(a))
        elif reduced:
            out.append(grad[name][None])
        else:
            out.append(grad[name].sum(axis=0, keepdims=True) if _shared(a) else grad[name])
    return out


def _wavelet(arrays, at):
    """The optional wavelet input of an op: ``arrays[at]`` if it was given."""
    return arrays[at] if len(arrays) > at else None


def _take_state(token, recompute):
    state = STATES.pop(token) if token != _NO_STATE else None
    return state if state is not None else recompute()


def _data_shape(prop, batch):
    return (batch, *prop.data_shape)


def _field_shape(prop, batch):
    return (batch, *prop.grid.shape)


def _as_model(prop, names, tensors):
    """Output fields as the model they are: one tensor for a one-parameter physics."""
    return tensors[0] if len(prop.parameters) == 1 else dict(zip(names, tensors))


def _gradient_fields(prop, fields, velocity_gradient):
    return prop.check_fields(fields) if velocity_gradient else ()


# -- the ops -------------------------------------------------------------------------------
def modeling(prop, model, shots, wavelet=None, keep=True, velocity_gradient=True,
             fields=None):
    """Nonlinear modeling ``d = F(model)`` of the shots, differentiable in the model (and
    the wavelet).

    Args:
        prop: a :class:`~keras_seismic.Propagator`.
        model: float32 (batch, *grid.shape) tensor, or a dict of them keyed by
            ``prop.parameters`` (velocity in m/s, density in kg/m^3, ...).
        shots: int (batch,) survey shot of each sample.
        wavelet: optional float32 (batch, nsrc, nt) source wavelets (source estimation).
        keep: store the forward wavefield for the backward pass (training).
        velocity_gradient: False when the model is fixed: nothing is stored, and the
            backward pass only computes the wavelet gradient (a plain adjoint solve).
        fields: the names of the fields whose gradients to compute (default all that the
            physics linearises).

    Returns:
        float32 (batch, nt, nrec).
    """
    names = _names(prop, model)
    fields = _gradient_fields(prop, fields, velocity_gradient)
    n = len(names)
    store = keep and bool(fields)

    def forward(s, *arrays):
        m, w = _model(names, arrays[:n]), _wavelet(arrays, n)
        if not store:
            return [prop.forward(m, s, wavelet=w)], _NO_STATE
        data, state = prop.forward_with_state(m, s, wavelet=w)
        return [data], STATES.put(state)

    def backward(s, token, dys, *arrays):
        fs, w = arrays[:n], _wavelet(arrays, n)
        m, dy = _model(names, fs), dys[0]
        if not fields:
            g_w = [] if w is None else [prop.wavelet_adjoint(m, dy, s).reshape(w.shape)]
            return [np.zeros_like(f) for f in fs] + g_w
        state = _take_state(token, lambda: prop.forward_with_state(m, s, wavelet=w)[1])
        try:
            reduced = _reduces(fs)
            if w is None:
                grad = prop.gradient(state, dy, reduce=reduced, fields=fields)
                return _gradients(grad, names, fs, reduced)
            grad, g_w = prop.gradient(state, dy, wavelet=True, reduce=reduced,
                                      fields=fields)
            return _gradients(grad, names, fs, reduced) + [g_w.reshape(w.shape)]
        finally:
            state.release()

    inputs = _tensors(model, names) + ([] if wavelet is None else [wavelet])
    return _pde_op(forward, backward, inputs, shots,
                   [_data_shape(prop, shots.shape[0])])[0]


def _encoding(wavelet):
    """An optional wavelet input of a linearised op, which is not differentiated: the op
    takes it behind ``stop_gradient`` (a tape then gives None for it, not zeros)."""
    return [] if wavelet is None else [tf.stop_gradient(wavelet)]


def born(prop, model0, dmodel, shots, wavelet=None):
    """Linearised modeling ``J(model0) dmodel`` (batch, *grid) -> (batch, nt, nrec); its
    gradient is the migration of ``dy``. ``dmodel`` perturbs any subset of the fields (a
    dict, or one tensor for the first); the background ``model0`` (fields of
    grid.shape, without a batch axis) is not differentiated, nor are the optional source
    wavelets (batch, nsrc, nt) that replace the survey's (e.g. a simultaneous-source
    encoding drawn per sample)."""
    base, dnames = prop.parameters, _names(prop, dmodel)
    nb, nd = len(base), len(dnames)

    def forward(s, *arrays):
        m, d = _model(base, arrays[:nb], batched=False), _model(dnames, arrays[nb:nb + nd])
        return [prop.born(m, d, s, wavelet=_wavelet(arrays, nb + nd))], _NO_STATE

    def backward(s, token, dys, *arrays):
        m, d = _model(base, arrays[:nb], batched=False), arrays[nb:nb + nd]
        reduced = _reduces(d)
        image = prop.born_adjoint(m, dys[0], s, reduce=reduced, fields=dnames,
                                  wavelet=_wavelet(arrays, nb + nd))
        return [np.zeros_like(b) for b in arrays[:nb]] + _gradients(
            image, dnames, d, reduced) + [np.zeros_like(w) for w in arrays[nb + nd:]]

    inputs = _tensors(model0, base) + _tensors(dmodel, dnames) + _encoding(wavelet)
    return _pde_op(forward, backward, inputs, shots, [_data_shape(prop, shots.shape[0])])[0]


def migration(prop, model0, data, shots, fields=None, wavelet=None):
    """Migration (adjoint Born) of each sample ``J(model0)^T d``: (batch, nt, nrec) ->
    the image of each field of ``fields`` (default all), (batch, *grid) each: one tensor
    for a one-parameter physics, else a dict. Its gradient is Born modeling of ``dy``.
    Optional source wavelets (batch, nsrc, nt) replace the survey's, as in :func:`born`."""
    base, fields = prop.parameters, prop.check_fields(fields)
    nb = len(base)

    def forward(s, *arrays):
        m = _model(base, arrays[:nb], batched=False)
        image = prop.born_adjoint(m, arrays[nb], s, reduce=False, fields=fields,
                                  wavelet=_wavelet(arrays, nb + 1))
        image = image if isinstance(image, dict) else {base[0]: image}
        return [image[f] for f in fields], _NO_STATE

    def backward(s, token, dys, *arrays):
        m = _model(base, arrays[:nb], batched=False)
        data = prop.born(m, dict(zip(fields, dys)), s, wavelet=_wavelet(arrays, nb + 1))
        return [np.zeros_like(b) for b in arrays[:nb]] + [data] + \
            [np.zeros_like(w) for w in arrays[nb + 1:]]

    images = _pde_op(forward, backward,
                     _tensors(model0, base) + [data] + _encoding(wavelet), shots,
                     [_field_shape(prop, data.shape[0])] * len(fields))
    return _as_model(prop, fields, images)


def extended_modeling(prop, weights, model, shots, keep=True, velocity_gradient=True,
                      fields=None):
    """Extended-source modeling ``d = E(model) w`` (batch, *grid) -> (batch, nt, nrec),
    differentiable in the weights and (if ``velocity_gradient``) the model's fields."""
    names = _names(prop, model)
    fields = _gradient_fields(prop, fields, velocity_gradient)
    store = keep and bool(fields)

    def forward(s, w, *fs):
        data, state = prop.forward_with_state(_model(names, fs), s, weights=w, keep=store)
        return [data], STATES.put(state) if store else _NO_STATE

    def backward(s, token, dys, w, *fs):
        m = _model(names, fs)
        if not fields:
            return [prop.extended_adjoint(m, dys[0], s)] + [np.zeros_like(f) for f in fs]
        state = _take_state(token, lambda: prop.forward_with_state(m, s, weights=w)[1])
        try:
            # One adjoint solve gives both: the weights gradient is its extended output.
            reduced = _reduces(fs)
            grad, g_w = prop.gradient(state, dys[0], wavelet=True, reduce=reduced,
                                      fields=fields)
            return [g_w] + _gradients(grad, names, fs, reduced)
        finally:
            state.release()

    return _pde_op(forward, backward, [weights] + _tensors(model, names), shots,
                   [_data_shape(prop, weights.shape[0])])[0]


def extended_adjoint(prop, data, model, shots, velocity_gradient=True, fields=None):
    """Adjoint extended-source modeling ``w = E(model)^T d`` (batch, nt, nrec) ->
    (batch, *grid), differentiable in the data and (if ``velocity_gradient``) the model:
    ``d<dy, E^T d>/dmodel`` is the model gradient of extended modeling of ``dy``."""
    names = _names(prop, model)
    fields = _gradient_fields(prop, fields, velocity_gradient)

    def forward(s, d, *fs):
        return [prop.extended_adjoint(_model(names, fs), d, s)], _NO_STATE

    def backward(s, token, dys, d, *fs):
        m = _model(names, fs)
        if not fields:
            return [prop.extended_forward(m, dys[0], s)] + [np.zeros_like(f) for f in fs]
        g_d, state = prop.forward_with_state(m, s, weights=dys[0])
        try:
            reduced = _reduces(fs)
            grad = prop.gradient(state, d, reduce=reduced, fields=fields)
            return [g_d] + _gradients(grad, names, fs, reduced)
        finally:
            state.release()

    return _pde_op(forward, backward, [data] + _tensors(model, names), shots,
                   [_field_shape(prop, data.shape[0])])[0]
