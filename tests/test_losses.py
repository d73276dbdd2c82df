"""Tests of keras_seismic.losses: values against numpy, gradients against finite
differences, shapes, serialization, robustness and validation."""
import numpy as np
import pytest
import scipy.signal

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from keras_seismic import losses  # noqa: E402

ALL = [losses.L2Misfit, losses.NormalizedMisfit, losses.StudentTMisfit, losses.EnvelopeMisfit]


# ------------------------------------------------------------------ numpy references

def np_l2(t, p):
    return 0.5 * np.sum((p - t) ** 2, axis=(1, 2))


def np_normalized(t, p, epsilon=1e-3):
    def normalize(d):
        out = np.empty_like(d)
        for s in range(d.shape[0]):
            norms = np.linalg.norm(d[s], axis=0)                      # one per receiver
            delta = epsilon * norms.max()
            out[s] = d[s] / np.sqrt(norms ** 2 + delta ** 2 + np.finfo(d.dtype).tiny)
        return out
    return 0.5 * np.sum((normalize(p) - normalize(t)) ** 2, axis=(1, 2))


def np_student_t(t, p, k=2.0):
    return (k + 1) / 2 * np.sum(np.log(1 + (p - t) ** 2 / k), axis=(1, 2))


def np_envelope(t, p, epsilon=1e-3):
    env_t = np.abs(scipy.signal.hilbert(t, axis=1))
    env_p = np.abs(scipy.signal.hilbert(p, axis=1))
    out = np.empty(t.shape[0])
    for s in range(t.shape[0]):
        delta = epsilon * env_t[s].max()
        et = np.sqrt(env_t[s] ** 2 + delta ** 2) - delta
        ep = np.sqrt(env_p[s] ** 2 + delta ** 2) - delta
        out[s] = 0.5 * np.sum((ep - et) ** 2)
    return out


REFERENCES = {losses.L2Misfit: np_l2, losses.NormalizedMisfit: np_normalized,
              losses.StudentTMisfit: np_student_t, losses.EnvelopeMisfit: np_envelope}


def gathers(batch=3, nt=32, nrec=4, seed=0, dtype=np.float32):
    """Smooth-ish synthetic gathers: band-limited pulses plus a little noise, so that the
    envelopes and trace norms are far from zero."""
    rng = np.random.default_rng(seed)
    t = np.arange(nt)[None, :, None]
    arrival = rng.uniform(0.3 * nt, 0.7 * nt, size=(batch, 1, nrec))
    amp = rng.uniform(0.5, 2.0, size=(batch, 1, nrec))
    arg = (np.pi * 0.15 * (t - arrival)) ** 2
    y_true = amp * (1 - 2 * arg) * np.exp(-arg) + 0.05 * rng.standard_normal((batch, nt, nrec))
    y_pred = y_true + 0.3 * rng.standard_normal((batch, nt, nrec))
    return y_true.astype(dtype), y_pred.astype(dtype)


# ------------------------------------------------------------------ values

@pytest.mark.parametrize("cls", ALL)
@pytest.mark.parametrize("nt", [32, 31])           # even and odd lengths (Hilbert weights)
def test_values_match_numpy(cls, nt):
    t, p = gathers(nt=nt)
    loss = cls()
    per_shot = loss.call(t, p).numpy()
    expected = REFERENCES[cls](t.astype(np.float64), p.astype(np.float64))
    assert per_shot.shape == (3,)
    assert per_shot.dtype == np.float32
    np.testing.assert_allclose(per_shot, expected, rtol=2e-5)
    # default reduction is the sum over the shots
    np.testing.assert_allclose(float(loss(t, p)), expected.sum(), rtol=2e-5)


def test_l2_exact_small_case():
    t = np.zeros((2, 2, 2), np.float32)
    p = np.array([[[1, 2], [0, 0]], [[0, 0], [0, 3]]], np.float32)
    np.testing.assert_allclose(losses.L2Misfit().call(t, p).numpy(), [2.5, 4.5])


@pytest.mark.parametrize("cls", ALL)
def test_zero_for_identical_data(cls):
    t, _ = gathers()
    assert float(cls()(t, t)) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("cls", ALL)
def test_channel_axis(cls):
    t, p = gathers()
    loss = cls()
    ref = loss.call(t, p).numpy()
    np.testing.assert_allclose(loss.call(t[..., None], p[..., None]).numpy(), ref, rtol=1e-6)
    np.testing.assert_allclose(loss.call(t, p[..., None]).numpy(), ref, rtol=1e-6)
    np.testing.assert_allclose(loss.call(t[..., None], p).numpy(), ref, rtol=1e-6)


@pytest.mark.parametrize("cls", ALL)
def test_reductions_and_sample_weight(cls):
    t, p = gathers()
    per_shot = cls(reduction=None)(t, p).numpy()
    assert per_shot.shape == (3,)
    assert float(cls()(t, p)) == pytest.approx(per_shot.sum(), rel=1e-5)
    mean = cls(reduction="sum_over_batch_size")(t, p)
    assert float(mean) == pytest.approx(per_shot.mean(), rel=1e-5)
    weights = np.array([1.0, 0.0, 2.0], np.float32)
    weighted = cls()(t, p, sample_weight=weights)
    assert float(weighted) == pytest.approx(per_shot[0] + 2 * per_shot[2], rel=1e-5)


def test_zero_traces_do_not_give_nan():
    t, p = gathers()
    t[:, :, 1] = 0.0
    p[:, :, 2] = 0.0
    p[1] = 0.0                                        # a whole predicted gather of zeros
    for cls in ALL:
        pv = tf.Variable(p)
        with tf.GradientTape() as tape:
            value = cls()(t, pv)
        grad = tape.gradient(value, pv).numpy()
        assert np.isfinite(float(value)), cls.__name__
        assert np.all(np.isfinite(grad)), cls.__name__
    np.testing.assert_allclose(losses.NormalizedMisfit().call(t, p).numpy(),
                               np_normalized(t.astype(np.float64), p.astype(np.float64)),
                               rtol=1e-5)


# ------------------------------------------------------------------ gradients

def finite_difference_gradient(loss, t, p, h=1e-6):
    """Central differences of the per-shot loss, all perturbations evaluated in one batch
    (each perturbed copy of a shot is a shot of its own)."""
    batch, nt, nrec = p.shape
    n = nt * nrec
    eye = np.eye(n).reshape(n, nt, nrec)
    grad = np.empty_like(p)
    for s in range(batch):
        plus = p[s][None] + h * eye
        minus = p[s][None] - h * eye
        tt = np.broadcast_to(t[s][None], (2 * n, nt, nrec))
        values = loss.call(tt, np.concatenate([plus, minus])).numpy()
        grad[s] = ((values[:n] - values[n:]) / (2 * h)).reshape(nt, nrec)
    return grad


@pytest.mark.parametrize("cls", ALL)
def test_gradient_matches_finite_differences(cls):
    t, p = gathers(batch=2, nt=16, nrec=3, seed=1, dtype=np.float64)
    loss = cls(dtype="float64")
    assert loss.dtype == "float64"
    pv = tf.Variable(p)
    with tf.GradientTape() as tape:
        value = loss(t, pv)
    assert value.dtype == tf.float64
    grad = tape.gradient(value, pv).numpy()
    fd = finite_difference_gradient(loss, t, p)
    assert np.linalg.norm(grad) > 0
    rel = np.linalg.norm(grad - fd) / np.linalg.norm(fd)
    assert rel < 1e-3, f"{cls.__name__}: relative gradient error {rel:.2e}"
    assert np.max(np.abs(grad - fd)) < 1e-3 * np.max(np.abs(fd))


def test_l2_gradient_is_residual():
    t, p = gathers()
    pv = tf.Variable(p)
    with tf.GradientTape() as tape:
        value = losses.L2Misfit()(t, pv)
    np.testing.assert_allclose(tape.gradient(value, pv).numpy(), p - t, rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------ properties

def test_normalized_is_amplitude_insensitive():
    t, p = gathers()
    loss = losses.NormalizedMisfit()
    base = float(loss(t, p))
    assert base > 0.1
    assert float(loss(t, 3.0 * p)) == pytest.approx(base, rel=1e-5)
    assert float(loss(0.01 * t, p)) == pytest.approx(base, rel=1e-5)
    # per-trace scaling is removed too (up to the epsilon, which is relative to the
    # strongest trace), but a sign flip is not
    scales = np.array([1.0, 5.0, 0.2, 2.0], np.float32)
    assert float(loss(t, p * scales)) == pytest.approx(base, rel=1e-3)
    assert float(loss(t, -p)) > base
    # while L2 sees the amplitude
    assert float(losses.L2Misfit()(t, 3.0 * p)) > 2 * float(losses.L2Misfit()(t, p))


def test_student_t_is_robust_to_an_outlier():
    t, p = gathers()
    spiked = p.copy()
    spiked[0, 10, 2] += 1000.0
    l2, st = losses.L2Misfit(), losses.StudentTMisfit()
    l2_ratio = float(l2(t, spiked)) / float(l2(t, p))
    st_ratio = float(st(t, spiked)) / float(st(t, p))
    assert l2_ratio > 1000
    assert st_ratio < 3
    assert st_ratio < 1e-2 * l2_ratio
    # the outlier's pull on the gradient is bounded: (k + 1) r / (k + r**2), not r
    pv = tf.Variable(spiked)
    with tf.GradientTape() as tape:
        value = st(t, pv)
    pull = tape.gradient(value, pv).numpy()[0, 10, 2]
    r = spiked[0, 10, 2] - t[0, 10, 2]
    assert pull == pytest.approx(3.0 * r / (2.0 + r ** 2), rel=1e-4)
    assert abs(pull) < 1e-2
    # and for small residuals it is (k + 1) / k times L2
    small = t + 1e-3 * (p - t)
    assert float(st(t, small)) == pytest.approx(1.5 * float(l2(t, small)), rel=1e-3)


def test_student_t_k_changes_value():
    t, p = gathers()
    assert float(losses.StudentTMisfit(k=0.5)(t, p)) != pytest.approx(
        float(losses.StudentTMisfit(k=20.0)(t, p)), rel=1e-3)


def test_envelope_ignores_phase_shift():
    """A 90-degree phase rotation (the Hilbert transform) keeps the envelope."""
    t, _ = gathers(nt=64)
    t = t - t.mean(axis=1, keepdims=True)
    rotated = np.imag(scipy.signal.hilbert(t, axis=1)).astype(np.float32)
    env = float(losses.EnvelopeMisfit()(t, rotated))
    l2 = float(losses.L2Misfit()(t, rotated))
    assert env < 1e-2 * l2


# ------------------------------------------------------------------ precision

def test_float32_under_mixed_precision():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        t, p = gathers()
        for cls in ALL:
            loss = cls(dtype="mixed_float16")
            assert loss.dtype == "float32"
            value = loss(tf.constant(t, tf.float16), tf.constant(p, tf.float16))
            assert value.dtype == tf.float32
            assert np.isfinite(float(value))
            assert cls().dtype == "float32"
    finally:
        keras.config.set_dtype_policy(previous)


# ------------------------------------------------------------------ serialization

@pytest.mark.parametrize("loss", [losses.L2Misfit(), losses.NormalizedMisfit(epsilon=1e-2),
                                  losses.StudentTMisfit(k=3.5, reduction="mean"),
                                  losses.EnvelopeMisfit(epsilon=2e-3, name="env"),
                                  losses.L2Misfit(dtype="float64")])
def test_serialization_round_trip(loss):
    config = loss.get_config()
    serialized = keras.losses.serialize(loss)
    assert serialized["registered_name"].startswith("keras_seismic>")
    restored = keras.losses.deserialize(serialized)
    assert type(restored) is type(loss)
    assert restored.get_config() == config
    assert type(loss).from_config(config).get_config() == config
    by_name = keras.losses.get(serialized)
    assert type(by_name) is type(loss)
    t, p = gathers()
    assert float(restored(t, p)) == pytest.approx(float(loss(t, p)), rel=1e-6)


def test_config_contents():
    assert losses.StudentTMisfit(k=4.0).get_config()["k"] == 4.0
    assert losses.NormalizedMisfit(epsilon=0.05).get_config()["epsilon"] == 0.05
    assert losses.EnvelopeMisfit().get_config()["reduction"] == "sum"


def test_fit_save_and_load_model(tmp_path):
    nt, nrec = 16, 3
    t, p = gathers(batch=4, nt=nt, nrec=nrec)
    model = keras.Sequential([keras.Input((nt, nrec)), keras.layers.Dense(nrec)])
    model.compile(optimizer="sgd", loss=losses.EnvelopeMisfit(epsilon=2e-3))
    history = model.fit(p, t, batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded.loss, losses.EnvelopeMisfit)
    assert loaded.loss.epsilon == 2e-3
    np.testing.assert_allclose(loaded.evaluate(p, t, verbose=0),
                               model.evaluate(p, t, verbose=0), rtol=1e-5)


# ------------------------------------------------------------------ validation

@pytest.mark.parametrize("cls", ALL)
def test_mismatched_shapes_name_both(cls):
    t, p = gathers(nt=16, nrec=4)
    with pytest.raises(ValueError, match=r"\(3, 16, 4\).*\(3, 16, 3\)"):
        cls()(t, p[:, :, :3])
    with pytest.raises(ValueError, match=r"\(3, 16, 4\).*\(2, 16, 4\)"):
        cls().call(t, p[:2])


@pytest.mark.parametrize("cls", ALL)
def test_bad_rank(cls):
    t, p = gathers()
    with pytest.raises(ValueError, match="nrec"):
        cls()(t[0], p[0])
    with pytest.raises(ValueError, match="nrec"):
        cls()(t[..., None, None], p[..., None, None])


@pytest.mark.parametrize("kwargs", [{"k": 0.0}, {"k": -1.0}, {"k": float("nan")},
                                    {"k": float("inf")}, {"k": "two"}])
def test_student_t_rejects_bad_k(kwargs):
    with pytest.raises(ValueError, match="k"):
        losses.StudentTMisfit(**kwargs)


@pytest.mark.parametrize("cls", [losses.NormalizedMisfit, losses.EnvelopeMisfit])
@pytest.mark.parametrize("epsilon", [0.0, -1e-3, float("nan")])
def test_rejects_bad_epsilon(cls, epsilon):
    with pytest.raises(ValueError, match="epsilon"):
        cls(epsilon=epsilon)


def test_rejects_bad_reduction():
    with pytest.raises(ValueError):
        losses.L2Misfit(reduction="median")
