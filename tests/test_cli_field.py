"""keras-seismic fwi on a field-like file: uneven shots, a recording delay, data 1000
times the unit Ricker's; the preparation and wavelet estimation of the config."""
import json
import warnings

import numpy as np
import pytest
import yaml

import keras_seismic as ks
from keras_seismic import cli


def field_folder(folder):
    grid, true = ks.datasets.layered(shape=(40, 20), spacing=15.0,
                                     velocities=(1800.0, 2300.0))
    dt, nt, t0 = 0.004, 151, 0.02
    mask = np.ones((3, 20), bool)
    mask[1, 16:] = mask[2, 12:] = False
    survey = ks.Survey([[150.0 + 150.0 * s, 10.0] for s in range(3)],
                       [[x, 5.0] for x in np.linspace(0.0, 585.0, 20)], dt, nt,
                       1e3 * ks.ricker(7.0, dt, nt, delay=0.2, t0=t0), t0=t0,
                       receiver_mask=mask)
    data = ks.AcousticPropagator(grid, survey, space_order=4,
                                 absorbing_width=10).forward(true)
    ks.io.write_shots(folder / "field.sgy", data, survey)
    ks.io.write_velocity(folder / "start.npz", ks.datasets.smooth(true, 60.0, grid=grid),
                         grid)


def run(folder, capsys, **data):
    config = {"data": {"shots": "field.sgy", "f0": 8.0, **data},
              "starting_model": {"path": "start.npz"},
              "propagator": {"space_order": 4, "absorbing_width": 10},
              "inversion": {"epochs": 1, "batch_size": 3, "vmin": 1500.0, "vmax": 2800.0},
              "output": {"directory": "out", "snapshot_every": 1, "verbose": 0}}
    path = folder / "fwi.yaml"
    path.write_text(yaml.safe_dump(config))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert cli.main(["fwi", str(path)]) == 0
    return capsys.readouterr().out, [str(w.message) for w in caught]


def test_fwi_on_a_field_like_file_warns_of_the_scale_then_estimates_the_wavelet(
        tmp_path, capsys):
    field_folder(tmp_path)
    out, messages = run(tmp_path, capsys)
    assert any("different numbers of receivers" in m for m in messages)
    scale = [m for m in messages if m.startswith("FWI: the observed data are")]
    assert len(scale) == 1 and "estimate_wavelet" in scale[0], messages
    out, messages = run(tmp_path, capsys, estimate_wavelet=True,
                        preprocess={"offsets": [0.0, 400.0], "bandpass": [2.0, 20.0]})
    assert "preprocessing: offsets 0 to 400 m, band-pass 2-20 Hz" in out
    assert "estimated the source wavelet" in out
    assert not any(m.startswith("FWI:") for m in messages), messages
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["misfit"]["final"] < metrics["misfit"]["initial"]


# The uneven shots are padded with a warning at every read (checked in the test above).
@pytest.mark.filterwarnings("ignore:.*the shots have different numbers of receivers")
def test_positions_given_in_the_config(tmp_path, capsys):
    """data.sources and data.receivers replace the headers' positions; bad ones name
    their field."""
    field_folder(tmp_path)
    np.save(tmp_path / "sources.npy", np.array([[150.0 + 150.0 * s, 10.0]
                                                for s in range(3)]))
    out, _ = run(tmp_path, capsys, sources="sources.npy", receivers="offset")
    assert "3 shots x 20 receivers" in out
    np.save(tmp_path / "sources.npy", np.zeros((2, 2)))
    config = tmp_path / "fwi.yaml"
    settings = yaml.safe_load(config.read_text())
    assert settings["data"]["sources"] == "sources.npy"
    assert cli.main(["fwi", str(config)]) == 2
    assert "data.sources" in capsys.readouterr().err
    # Receivers of the wrong shape: the error names data.receivers, not data.shots.
    np.save(tmp_path / "sources.npy", np.array([[150.0 + 150.0 * s, 10.0]
                                                for s in range(3)]))
    np.save(tmp_path / "receivers.npy", np.zeros((5, 3)))
    settings["data"]["receivers"] = "receivers.npy"
    config.write_text(yaml.safe_dump(settings))
    assert cli.main(["fwi", str(config)]) == 2
    err = capsys.readouterr().err
    assert "data.receivers" in err and "data.shots" not in err, err
