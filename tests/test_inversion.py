"""Inversion tools: L-BFGS and gradient preconditioning."""
import keras
import numpy as np
import pytest

import keras_seismic as ks
from keras_seismic import models
from helpers import small_problem


def _target(vp):
    true = vp.copy()
    true[15:25, 10:20] += 150.0
    return true


def test_lbfgs_beats_gradient_descent_for_the_same_solves():
    prop, vp = small_problem(storage="full")
    true = _target(vp)
    observed = prop.forward(true)
    shots = np.arange(prop.nshots)
    lbfgs_model = models.FWI(prop, vp, 1500.0, 3500.0)
    result = ks.optimizers.lbfgs(lbfgs_model, shots, observed, max_iterations=4)
    assert result["loss"][-1] < result["loss"][0]
    # Plain gradient descent for the same number of forward+adjoint solves, with a fixed
    # step that moves the model by at most 20 m/s at the start.
    gradient = prop.born_adjoint(vp, prop.forward(vp) - observed)
    descent = models.FWI(prop, vp, 1500.0, 3500.0)
    descent.compile(optimizer=keras.optimizers.SGD(float(20.0 / np.abs(gradient).max())))
    history = descent.fit(shots, observed, batch_size=prop.nshots,
                          epochs=result["evaluations"], verbose=0).history["loss"]
    final = float(descent.evaluate(shots, observed, verbose=0))
    assert min(result["loss"]) < min(history + [final]), (result, history)
    # The box holds.
    assert lbfgs_model.velocity.min() >= 1500.0 and lbfgs_model.velocity.max() <= 3500.0


def test_lbfgs_keeps_masked_cells_and_checks_input():
    prop, vp = small_problem(storage="full")
    mask = np.ones(vp.shape, np.float32)
    mask[:, :6] = 0.0
    model = models.FWI(prop, vp, 1500.0, 3500.0, mask=mask)
    ks.optimizers.lbfgs(model, [0, 1], prop.forward(_target(vp)), max_iterations=1)
    assert np.allclose(model.velocity[:, :6], vp[:, :6], rtol=1e-5)
    assert np.abs(model.velocity[:, 6:] - vp[:, 6:]).max() > 0
    try:
        ks.optimizers.lbfgs(model, [0], prop.forward(vp))
    except ValueError as err:
        assert "1 shots but observed data for 2" in str(err)
    else:
        raise AssertionError("mismatched shots and data were accepted")


def test_lbfgs_steps_follow_the_mask_as_a_preconditioner():
    """A mask of 0.01 on the right half (FWI's precondition= ends up in the mask) shrinks
    the first step there about a hundredfold against the left half."""
    prop, vp = small_problem(storage="full")
    observed = prop.forward(_target(vp))
    mask = np.ones(vp.shape, np.float32)
    half = vp.shape[0] // 2
    mask[half:] = 0.01

    def right_to_left(mask):
        model = models.FWI(prop, vp, 1500.0, 3500.0, mask=mask)
        ks.optimizers.lbfgs(model, np.arange(prop.nshots), observed, max_iterations=1)
        step = np.abs(model.velocity - vp)
        return step[half:].mean() / step[:half].mean()

    plain, scaled = right_to_left(None), right_to_left(mask)
    assert plain > 0.1, plain                       # both halves move without the mask
    assert 0.003 < scaled / plain < 0.03, (scaled, plain)


def test_preconditioners_scale_the_gradient():
    prop, vp = small_problem()
    depth = models.FWI(prop, vp, 1500.0, 3500.0, precondition="depth").velocity_model.mask
    assert depth.shape == vp.shape and depth.max() == 1.0
    assert np.all(np.diff(depth, axis=1) > 0)  # grows with depth
    light = models.FWI(prop, vp, 1500.0, 3500.0,
                       precondition="illumination").velocity_model.mask
    illumination = prop.illumination(vp)
    # Weakest illumination gets the largest weight.
    assert light.flat[np.argmin(illumination)] > light.flat[np.argmax(illumination)]
    try:
        models.FWI(prop, vp, 1500.0, 3500.0, precondition="magic")
    except ValueError as err:
        assert "precondition" in str(err)
    else:
        raise AssertionError("an unknown preconditioner was accepted")


@pytest.mark.parametrize("shots,observed,match", [
    ([0.4, 0.6], None, "whole-number shot indices"),
    ([1.5, 0.5], None, "whole-number shot indices"),
    ([0, 2], None, "out of range"),
    ([0, 1], "nan", "observed data \\(y\\) contains NaN"),
    ([0, 1], "short", "observed data \\(y\\) has shape"),
])
def test_fit_checks_shots_and_observed_data_before_any_solve(shots, observed, match):
    prop, vp = small_problem()
    data = np.zeros((2, *prop.data_shape), np.float32)
    if observed == "nan":
        data[1, 5, 3] = np.nan
    elif observed == "short":
        data = data[:, :-1]
    model = models.FWI(prop, vp, 1500.0, 3500.0)
    model.compile()
    solves = []
    prop.executor.map = lambda *args, **kwargs: solves.append(1)  # no solve may run
    with pytest.raises(ValueError, match=match):
        model.fit(np.array(shots), data, batch_size=2, epochs=1, verbose=0)
    assert not solves


def test_an_inversion_needs_its_starting_model_except_when_loaded(tmp_path):
    prop, vp = small_problem()
    with pytest.raises(ValueError, match="FWI: give the starting model initial_vp"):
        models.FWI(prop, None, 1500.0, 3500.0)
    with pytest.raises(ValueError, match="LSRTM: give the background model vp0"):
        models.LSRTM(prop)
    fwi = models.FWI(prop, vp * 1.01, 1500.0, 3500.0)
    fwi.save(tmp_path / "fwi.keras")
    loaded = keras.models.load_model(tmp_path / "fwi.keras")
    np.testing.assert_array_equal(loaded.velocity, fwi.velocity)


def test_compile_without_an_optimizer_uses_the_default_learning_rate():
    prop, vp = small_problem()
    fwi = models.FWI(prop, vp, 1500.0, 3500.0)
    assert fwi.default_learning_rate() == pytest.approx(0.002 * float(np.mean(vp)))
    fwi.compile()
    assert float(fwi.optimizer.learning_rate) == pytest.approx(fwi.default_learning_rate())
    lsrtm = models.LSRTM(prop, vp, learning_rate=3.0)
    assert lsrtm.default_learning_rate() == 3.0 and models.LSRTM(
        prop, vp).default_learning_rate() == 1.0
    for bad in (0.0, -1.0, "fast"):
        with pytest.raises(ValueError, match="LSRTM learning_rate must be a"):
            models.LSRTM(prop, vp, learning_rate=bad)


@pytest.mark.parametrize("mask, match", [
    (np.full((8, 6), np.nan), "mask contains NaN"),
    (np.full((8, 6), 5.0), r"from 0 \(fixed\) to 1"),
    (np.ones((8, 5)), "mask has shape"),
])
def test_a_bad_velocity_model_mask_is_refused(mask, match):
    with pytest.raises(ValueError, match=match):
        ks.layers.VelocityModel(np.full((8, 6), 2000.0), mask=mask)


@pytest.mark.parametrize("vmin, vmax, match", [
    (0.0, 3500.0, r"0 < low < high <= inf \(m/s\); got \(0.0, 3500.0\)"),
    (3500.0, 1500.0, "0 < low < high"),
    (2300.0, 3500.0, r"initial model's 'vp' spans \[2248.35, .*outside its bounds \[2300, "
                     r"3500\]"),
    ("fast", 3500.0, "must be a number"),
])
def test_fwi_bounds_are_checked_against_the_physics_and_the_start(vmin, vmax, match):
    prop, vp = small_problem()
    with pytest.raises(ValueError, match=match):
        models.FWI(prop, vp, vmin, vmax)
