"""Tests of keras_seismic.plotting: figures, axes, labels, colour bars, files, validation."""
import csv

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from keras_seismic import plotting  # noqa: E402
from keras_seismic.grid import Grid  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture
def grid():
    return Grid(shape=(40, 20), spacing=(10.0, 5.0), origin=(100.0, 0.0))


@pytest.fixture
def grid3():
    return Grid(shape=(12, 9, 10), spacing=(10.0, 20.0, 5.0))


def layered(grid, top=1500.0, bottom=3000.0):
    depth = np.linspace(top, bottom, grid.shape[-1], dtype=np.float32)
    return np.broadcast_to(depth, grid.shape).astype(np.float32)


def colorbars(fig):
    """Axes of the figure that are colour bars."""
    return [ax for ax in fig.axes if hasattr(ax, "_colorbar")]


def has_unit(label):
    return "(m)" in label or "(s)" in label or "(m/s)" in label


def assert_png(fig, path):
    out = plotting.save_figure(fig, path)
    assert out.exists() and out.stat().st_size > 1000
    assert out.read_bytes()[:8] == PNG_MAGIC
    assert not plt.fignum_exists(fig.number)          # closed


# ------------------------------------------------------------------ plot_velocity

def test_plot_velocity(grid, tmp_path):
    vp = layered(grid)
    fig = plotting.plot_velocity(vp, grid, title="model")
    assert isinstance(fig, matplotlib.figure.Figure)
    assert len(fig.axes) == 2
    ax = fig.axes[0]
    assert has_unit(ax.get_xlabel()) and has_unit(ax.get_ylabel())
    assert "depth" in ax.get_ylabel()
    assert ax.get_title() == "model"
    (cbar_ax,) = colorbars(fig)
    assert cbar_ax.get_ylabel() == "velocity (m/s)"
    image = ax.images[0]
    assert image.get_clim() == (1500.0, 3000.0)
    # x across in metres from the origin, depth increasing downwards
    left, right, bottom, top = image.get_extent()
    assert left == pytest.approx(95.0) and right == pytest.approx(100.0 + 39 * 10.0 + 5.0)
    assert bottom > top and top == pytest.approx(-2.5)
    lo, hi = ax.get_ylim()
    assert lo > hi                                    # y axis inverted: depth down
    # the slowest layer (top of the model) is drawn at the top of the image
    array = image.get_array()
    assert array.shape == (grid.shape[1], grid.shape[0])
    assert array[0, 0] == pytest.approx(1500.0) and array[-1, 0] == pytest.approx(3000.0)
    assert_png(fig, tmp_path / "sub" / "vp.png")


def test_plot_velocity_limits_and_existing_axes(grid):
    fig0, ax = plt.subplots()
    fig = plotting.plot_velocity(layered(grid), grid, ax=ax, vmin=1000, vmax=4000,
                                 cmap="jet")
    assert fig is fig0
    assert ax.images[0].get_clim() == (1000, 4000)
    assert ax.images[0].get_cmap().name == "jet"


def test_plot_velocity_3d_middle_slice(grid3):
    vp = np.full(grid3.shape, 2000.0, np.float32)
    vp[:, 4, :] = 2500.0                              # the middle y slice (ny=9 -> 4)
    fig = plotting.plot_velocity(vp, grid3)
    ax = fig.axes[0]
    assert np.all(ax.images[0].get_array() == 2500.0)
    assert "y = 80 m" in ax.get_title()
    assert len(fig.axes) == 2


def test_plot_velocity_accepts_batch_of_one(grid):
    fig = plotting.plot_velocity(layered(grid)[None], grid)
    assert len(fig.axes) == 2


@pytest.mark.parametrize("shape", [(20, 40), (40, 20, 1), (40,), (2, 40, 20)])
def test_plot_velocity_bad_shape(grid, shape):
    with pytest.raises(ValueError, match=r"shape"):
        plotting.plot_velocity(np.ones(shape, np.float32), grid)


# ------------------------------------------------------------------ plot_image

def test_plot_image_symmetric_clip(grid, tmp_path):
    rng = np.random.default_rng(0)
    image = rng.standard_normal(grid.shape)
    image[5, 5] = 1e6                                 # one huge sample must not set the scale
    fig = plotting.plot_image(image, grid, title="RTM", clip=98)
    assert len(fig.axes) == 2 and len(colorbars(fig)) == 1
    ax = fig.axes[0]
    vmin, vmax = ax.images[0].get_clim()
    assert vmin == -vmax
    assert vmax == pytest.approx(np.percentile(np.abs(image), 98))
    assert vmax < 10
    assert has_unit(ax.get_xlabel()) and has_unit(ax.get_ylabel())
    assert ax.get_title() == "RTM"
    assert_png(fig, tmp_path / "image.png")


def test_plot_image_zero_and_3d(grid3):
    fig = plotting.plot_image(np.zeros(grid3.shape), grid3, clip=100)
    vmin, vmax = fig.axes[0].images[0].get_clim()
    assert (vmin, vmax) == (-1.0, 1.0)


@pytest.mark.parametrize("clip", [0, -5, 101, "high"])
def test_plot_image_bad_clip(grid, clip):
    with pytest.raises(ValueError, match="clip"):
        plotting.plot_image(np.ones(grid.shape), grid, clip=clip)


def test_plot_image_bad_shape(grid):
    with pytest.raises(ValueError, match=r"\(41, 20\).*\(40, 20\)"):
        plotting.plot_image(np.ones((41, 20)), grid)


# ------------------------------------------------------------------ plot_shot

def test_plot_shot_with_receivers(tmp_path):
    nt, nrec, dt = 101, 12, 0.004
    data = np.random.default_rng(1).standard_normal((nt, nrec)).astype(np.float32)
    receivers = np.stack([np.linspace(200.0, 750.0, nrec), np.full(nrec, 10.0)], axis=1)
    fig = plotting.plot_shot(data, dt, receivers=receivers, title="shot 0")
    assert len(fig.axes) == 2 and len(colorbars(fig)) == 1
    ax = fig.axes[0]
    assert ax.get_xlabel() == "receiver x (m)"
    assert ax.get_ylabel() == "time (s)"
    left, right, bottom, top = ax.images[0].get_extent()
    assert left == pytest.approx(200.0 - 25.0) and right == pytest.approx(750.0 + 25.0)
    assert top == pytest.approx(-dt / 2) and bottom == pytest.approx((nt - 0.5) * dt)
    lo, hi = ax.get_ylim()
    assert lo > hi                                    # time increases downwards
    vmin, vmax = ax.images[0].get_clim()
    assert vmax == pytest.approx(np.percentile(np.abs(data), 98), rel=1e-6) and vmin == -vmax
    assert_png(fig, tmp_path / "shot.png")


def test_plot_shot_index_axis_and_channel():
    data = np.zeros((50, 7, 1))
    fig = plotting.plot_shot(data, 0.002)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "receiver index"
    assert "(s)" in ax.get_ylabel()
    assert len(fig.axes) == 2


def test_plot_shot_irregular_and_unsorted_receivers():
    nrec = 5
    data = np.tile(np.arange(nrec, dtype=float), (20, 1))       # trace i holds value i
    x = np.array([300.0, 0.0, 50.0, 400.0, 120.0])
    receivers = np.stack([x, np.zeros(nrec)], axis=1)
    fig = plotting.plot_shot(data, 0.01, receivers=receivers, clip=100)
    ax = fig.axes[0]
    assert len(ax.collections) == 1                   # a mesh, not an evenly spaced image
    mesh = ax.collections[0].get_array().reshape(20, nrec)
    np.testing.assert_array_equal(mesh[0], np.argsort(x))      # columns sorted by x
    assert ax.get_xlim()[0] < 0.0 < 400.0 < ax.get_xlim()[1]


def test_plot_shot_3d_line_along_y():
    nrec = 6
    receivers = np.stack([np.full(nrec, 500.0), np.arange(nrec) * 25.0, np.full(nrec, 5.0)],
                         axis=1)
    fig = plotting.plot_shot(np.ones((30, nrec)), 0.004, receivers=receivers)
    assert fig.axes[0].get_xlabel() == "receiver y (m)"


@pytest.mark.parametrize("data", [np.ones((2, 30, 4)), np.ones(30), np.ones((30, 0))])
def test_plot_shot_bad_data(data):
    with pytest.raises(ValueError, match="shape"):
        plotting.plot_shot(data, 0.004)


def test_plot_shot_leaves_out_padded_traces_and_starts_at_t0():
    data = np.tile(np.arange(6, dtype=float), (20, 1))
    data[:, 4:] = 1e6                                    # padding of an uneven shot
    receivers = np.stack([np.arange(6) * 10.0, np.zeros(6)], axis=1)
    mask = np.array([True] * 4 + [False] * 2)
    fig = plotting.plot_shot(data, 0.01, receivers=receivers, mask=mask, t0=-0.1, clip=100)
    image = fig.axes[0].images[0]
    np.testing.assert_array_equal(image.get_array()[0], [0, 1, 2, 3])
    left, right, bottom, top = image.get_extent()
    assert (left, right) == pytest.approx((-5.0, 35.0))
    assert (top, bottom) == pytest.approx((-0.105, -0.1 + 19.5 * 0.01))
    with pytest.raises(ValueError, match="mask must be 6 booleans"):
        plotting.plot_shot(data, 0.01, mask=mask[:3])


def test_plot_shot_bad_receivers_and_dt():
    with pytest.raises(ValueError, match=r"\(5, 2\)"):
        plotting.plot_shot(np.ones((30, 4)), 0.004, receivers=np.zeros((5, 2)))
    with pytest.raises(ValueError, match="dt"):
        plotting.plot_shot(np.ones((30, 4)), 0.0)


# ------------------------------------------------------------------ plot_history

def test_plot_history_dict(tmp_path):
    history = {"loss": [10.0, 3.0, 1.0, 0.5], "val_loss": [12.0, 4.0, 2.0, 1.0],
               "learning_rate": [0.1, 0.1, 0.1, 0.1]}
    fig = plotting.plot_history(history)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "misfit"
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["loss", "val_loss"]             # learning_rate is not a misfit
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), [1, 2, 3, 4])
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), history["loss"])
    assert_png(fig, tmp_path / "history.png")


def test_plot_history_csv_logger_file(tmp_path):
    path = tmp_path / "log.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["epoch", "learning_rate", "loss"])
        for epoch, value in enumerate([5.0, 2.5, 1.25]):
            writer.writerow([epoch, 0.01, value])
    fig = plotting.plot_history(str(path))
    (line,) = fig.axes[0].get_lines()
    np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(line.get_ydata(), [5.0, 2.5, 1.25])
    fig = plotting.plot_history(path, keys=["learning_rate"])
    assert fig.axes[0].get_lines()[0].get_label() == "learning_rate"


def test_plot_history_from_keras_csvlogger(tmp_path):
    keras = pytest.importorskip("keras")
    path = tmp_path / "train.csv"
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    x = np.random.default_rng(0).standard_normal((8, 3)).astype(np.float32)
    history = model.fit(x, x.sum(axis=1, keepdims=True), epochs=3, verbose=0,
                        callbacks=[keras.callbacks.CSVLogger(str(path))])
    assert "NA" in path.read_text()                    # val_loss without validation data
    for source in (path, history, history.history):
        fig = plotting.plot_history(source)
        (line,) = fig.axes[0].get_lines()
        assert line.get_label() == "loss"
        np.testing.assert_allclose(line.get_ydata(), history.history["loss"], rtol=1e-6)


def test_plot_history_into_axes():
    fig0, ax = plt.subplots()
    assert plotting.plot_history({"loss": [1.0, 0.5]}, ax=ax) is fig0


def test_plot_history_bad_input(tmp_path):
    with pytest.raises(ValueError, match="no"):
        plotting.plot_history({"loss": [1.0]}, keys=["misfit"])
    with pytest.raises(ValueError, match="lengths"):
        plotting.plot_history({"loss": [1.0, 2.0], "val_loss": [1.0]})
    with pytest.raises(ValueError):
        plotting.plot_history({"loss": []})
    with pytest.raises(ValueError):
        plotting.plot_history([1.0, 2.0])
    empty = tmp_path / "empty.csv"
    empty.write_text("epoch,loss\n")
    with pytest.raises(ValueError, match="no epochs"):
        plotting.plot_history(empty)


# ------------------------------------------------------------------ plot_comparison

def test_plot_comparison(grid, tmp_path):
    true = layered(grid, 1500.0, 3500.0)
    initial = layered(grid, 1500.0, 3000.0)
    inverted = layered(grid, 1400.0, 3400.0)
    fig = plotting.plot_comparison(grid, true=true, initial=initial, inverted=inverted)
    # three panels, the profile panel and one shared colour bar
    assert len(fig.axes) == 5 and len(colorbars(fig)) == 1
    panels = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in panels] == ["true", "initial", "inverted"]
    clims = {ax.images[0].get_clim() for ax in panels}
    assert clims == {(1400.0, 3500.0)}                # one shared scale over all models
    for ax in panels:
        assert has_unit(ax.get_xlabel()) and has_unit(ax.get_ylabel())
    (profile,) = [ax for ax in fig.axes if ax.get_lines() and not ax.images]
    assert profile.get_xlabel() == "velocity (m/s)" and has_unit(profile.get_ylabel())
    lines = {line.get_label(): line for line in profile.get_lines()}
    assert set(lines) == {"true", "initial", "inverted"}
    np.testing.assert_allclose(lines["true"].get_xdata(), true[20])
    depth = np.arange(grid.shape[1]) * grid.spacing[1]
    np.testing.assert_allclose(lines["true"].get_ydata(), depth)
    lo, hi = profile.get_ylim()
    assert lo > hi                                    # depth down
    assert colorbars(fig)[0].get_ylabel() == "velocity (m/s)"
    assert_png(fig, tmp_path / "comparison.png")


def test_plot_comparison_skips_missing_and_limits(grid):
    fig = plotting.plot_comparison(grid, true=layered(grid), inverted=layered(grid),
                                   vmin=1000.0, vmax=5000.0)
    assert len(fig.axes) == 4
    panels = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in panels] == ["true", "inverted"]
    assert all(ax.images[0].get_clim() == (1000.0, 5000.0) for ax in panels)


def test_plot_comparison_3d(grid3):
    vp = np.full(grid3.shape, 2000.0)
    fig = plotting.plot_comparison(grid3, initial=vp)
    assert len(fig.axes) == 3
    assert "y = 80 m" in fig.axes[1].get_title() or any(
        "y = 80 m" in ax.get_title() for ax in fig.axes)


def test_plot_comparison_bad_input(grid):
    with pytest.raises(ValueError, match="at least one"):
        plotting.plot_comparison(grid)
    with pytest.raises(ValueError, match=r"inverted.*\(40, 21\)"):
        plotting.plot_comparison(grid, true=layered(grid), inverted=np.ones((40, 21)))


def test_save_figure_other_format(grid, tmp_path):
    fig = plotting.plot_velocity(layered(grid), grid)
    out = plotting.save_figure(fig, tmp_path / "vp.pdf", dpi=72)
    assert out.read_bytes()[:4] == b"%PDF"
