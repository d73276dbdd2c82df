"""The keras-seismic command line: demo, model and fwi, and its configuration errors."""
import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from keras_seismic import cli, datasets, io
from keras_seismic.cli import commands
from keras_seismic.cli.config import tomllib

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "configs"

# A tiny survey over the faulted model, modeled by `keras-seismic model`.
MODEL_TOML = """\
[velocity]
dataset = "faulted"
shape = [40, 20]
spacing = 15.0
options = { seed = 1, nfaults = 1 }

[survey]
nshots = 3
nrec = 20
f0 = 8.0
duration = 0.5

[propagator]
space_order = 4
absorbing_width = 10

[output]
shots = "shots.sgy"
velocity = "true.npz"
figure = "model.png"

[output.starting_model]
path = "start.npz"
sigma = 60.0
water_velocity = 1500.0
"""

# Two epochs of FWI of those shots (the last stage unfiltered).
FWI_CONFIG = {
    "data": {"shots": "shots.sgy", "f0": 8.0},
    "starting_model": {"path": "start.npz"},
    "true_model": {"path": "true.npz"},
    "propagator": {"space_order": 4, "absorbing_width": 10, "free_surface": False},
    "inversion": {"epochs": 2, "batch_size": 3, "learning_rate": 30.0, "vmin": 1400.0,
                  "vmax": 4700.0, "water_velocity": 1500.0, "misfit": "l2",
                  "multiscale": {"cutoffs": [4.0, "full"], "epochs_per_stage": 1},
                  "seed": 0},
    "output": {"directory": "fwi_out", "snapshot_every": 1, "verbose": 0},
}


@pytest.fixture(scope="module")
def modeled(tmp_path_factory):
    """A folder holding model.toml and what `keras-seismic model` wrote from it."""
    folder = tmp_path_factory.mktemp("cli")
    (folder / "model.toml").write_text(MODEL_TOML)
    assert cli.main(["model", str(folder / "model.toml")]) == 0
    return folder


def write_fwi_config(folder, config, name="fwi.yaml"):
    path = Path(folder) / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


# ----------------------------------------------------------------------------- demo

@pytest.mark.parametrize("blocked", ["a file in the way", "no permission"])
def test_unwritable_output_folder_fails_before_any_work(tmp_path, capsys, monkeypatch,
                                                         blocked):
    """As `docker run -v` onto a folder the image's user cannot write: a clear error at
    once (exit 1), not a traceback after the inversion."""
    out = tmp_path / "out"
    if blocked == "a file in the way":
        out.write_text("not a folder")
        out = out / "demo"
    else:
        def refuse(*args, **kwargs):
            raise PermissionError(13, "Permission denied")
        monkeypatch.setattr(commands.tempfile, "TemporaryFile", refuse)
    monkeypatch.setattr(commands, "_invert", lambda *a, **k: pytest.fail("work started"))
    assert cli.main(["demo", "--quick", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"cannot write to the output folder {out}" in err and "--user" in err
    assert "Traceback" not in err


def test_demo_quick_writes_outputs_and_reduces_model_error(tmp_path, capsys):
    out = tmp_path / "demo"
    assert cli.main(["demo", "--quick", "--out", str(out)]) == 0
    for name in ("comparison.png", "shot.png", "history.png", "inverted.npy", "initial.npy",
                 "true.npy", "history.csv", "metrics.json"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert sorted(p.name for p in (out / "snapshots").iterdir())[:2] == [
        "velocity_0003.npy", "velocity_0003.png"]
    metrics = json.loads((out / "metrics.json").read_text())
    error = metrics["model_error"]
    assert error["final"] < error["initial"]
    assert error["relative_reduction"] == pytest.approx(1 - error["final"] / error["initial"])
    assert metrics["misfit"]["final"] < metrics["misfit"]["initial"]
    assert metrics["wall_time_s"]["total"] > 0
    assert metrics["machine"]["cpu_count"] >= 1
    assert metrics["problem"]["nshots"] == 4 and metrics["inversion"]["epochs"] == 6
    inverted = np.load(out / "inverted.npy")
    assert inverted.shape == tuple(metrics["problem"]["grid_shape"])
    history = (out / "history.csv").read_text().splitlines()
    assert history[0].startswith("epoch") and "model_error" in history[0]
    assert len(history) == 1 + 6
    assert "model error" in capsys.readouterr().out


# ----------------------------------------------------------------------------- model

def test_model_writes_readable_segy(modeled):
    data, survey = io.read_shots(modeled / "shots.sgy", f0=8.0)
    assert data.shape == (3, survey.nt, 20) and survey.dt == pytest.approx(0.002)
    assert np.abs(data).max() > 0
    grid, true_vp = io.read_velocity(modeled / "true.npz")
    assert grid.shape == (40, 20) and grid.spacing == (15.0, 15.0)
    _, start = io.read_velocity(modeled / "start.npz")
    assert start.shape == true_vp.shape and not np.array_equal(start, true_vp)
    assert (modeled / "model.png").stat().st_size > 0
    # sources lie inside the model, along its surface
    assert np.all((survey.sources[:, 0, 0] > 0) & (survey.sources[:, 0, 0] < grid.extent[0]))


def test_model_out_option_redirects_relative_outputs(modeled, tmp_path):
    assert cli.main(["model", str(modeled / "model.toml"), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "shots.sgy").is_file() and (tmp_path / "start.npz").is_file()


# ----------------------------------------------------------------------------- fwi

def test_fwi_round_trip_on_modeled_segy(modeled):
    config = write_fwi_config(modeled, FWI_CONFIG)
    assert cli.main(["fwi", str(config)]) == 0
    out = modeled / "fwi_out"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["inversion"]["epochs"] == 2
    assert metrics["inversion"]["multiscale_cutoffs_hz"] == [4.0, None]
    assert metrics["misfit"]["final"] < metrics["misfit"]["initial"]
    assert np.isfinite(metrics["model_error"]["final"])
    inverted = np.load(out / "inverted.npy")
    assert inverted.shape == (40, 20) and inverted.min() >= 1400.0
    assert (out / "snapshots" / "velocity_0002.npy").is_file()
    assert (out / "history.csv").read_text().count("\n") == 3


def test_fwi_with_wavelet_file_and_no_multiscale(modeled, tmp_path):
    _, survey = io.read_shots(modeled / "shots.sgy", f0=8.0)
    np.save(tmp_path / "wavelet.npy", survey.wavelet[0, 0])
    config = copy.deepcopy(FWI_CONFIG)
    config["data"] = {"shots": str(modeled / "shots.sgy"),
                      "wavelet": str(tmp_path / "wavelet.npy")}
    config["starting_model"]["path"] = str(modeled / "start.npz")
    del config["true_model"], config["inversion"]["multiscale"]
    config["inversion"].update(epochs=1, misfit="normalized")
    path = write_fwi_config(tmp_path, config)
    assert cli.main(["fwi", str(path), "--out", str(tmp_path / "o")]) == 0
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert "model_error" not in metrics and metrics["inversion"]["misfit"] == "normalized"


@pytest.mark.parametrize("density", ["gardner", "file"])
def test_fwi_with_a_density_inverts_the_fields_asked_for(modeled, tmp_path, density):
    """A density section runs variable-density acoustics; inversion.fields says what is
    inverted (here the density alone, by Gardner's relation or from a file)."""
    config = copy.deepcopy(FWI_CONFIG)
    config["data"]["shots"] = str(modeled / "shots.sgy")
    config["starting_model"]["path"] = str(modeled / "start.npz")
    del config["true_model"]
    if density == "file":
        _, start = io.read_velocity(modeled / "start.npz")
        np.save(tmp_path / "rho.npy", datasets.gardner(start, water_velocity=1500.0))
        config["density"] = {"path": str(tmp_path / "rho.npy"), "spacing": 15.0}
    else:
        config["density"] = {"relation": "gardner"}
    config["inversion"].update(epochs=1, fields=["rho"], bounds={"rho": [900.0, 3000.0]},
                               learning_rate=20.0)
    del config["inversion"]["multiscale"]
    path = write_fwi_config(tmp_path, config)
    assert cli.main(["fwi", str(path), "--out", str(tmp_path / "o")]) == 0
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert metrics["inversion"]["physics"] == "acoustic-density"
    assert metrics["inversion"]["fields"] == ["rho"]
    assert metrics["inversion"]["bounds"] == {"rho": [900.0, 3000.0]}
    rho = np.load(tmp_path / "o" / "inverted_rho.npy")
    assert rho.shape == (40, 20) and 900.0 <= rho.min() and rho.max() <= 3000.0
    _, start = io.read_velocity(modeled / "start.npz")
    assert np.array_equal(np.load(tmp_path / "o" / "inverted.npy"), start)  # vp fixed


@pytest.mark.parametrize("change,field", [
    ({"inversion": {"fields": ["rho"]}}, "inversion.fields"),     # rho without a density
    ({"inversion": {"fields": ["vp", "eta"]}}, "inversion.fields"),
    ({"density": {"relation": "gardner", "path": "rho.npy"}}, "density"),
    ({"density": {"relation": "lindseth"}}, "density.relation"),
    ({"density": {"relation": "gardner"}, "inversion": {"bounds": {"rho": [3, 2]}}},
     "inversion.bounds.rho"),
])
def test_bad_density_settings_name_their_field(tmp_path, change, field):
    config = copy.deepcopy(FWI_CONFIG)
    for section, values in change.items():
        config.setdefault(section, {}).update(values)
    with pytest.raises(cli.ConfigError) as caught:
        cli.parse_fwi_config(config, base=tmp_path)
    assert field in str(caught.value)


@pytest.mark.parametrize("physics", ["tti", "visco-acoustic"])
def test_fwi_with_the_fields_of_another_physics_as_files(modeled, tmp_path, capsys,
                                                         physics):
    """propagator.physics picks the wave equation; the parameters section gives its fields
    besides vp as .npy files; vp is inverted and they stay fixed."""
    _, start = io.read_velocity(modeled / "start.npz")
    model = (datasets.faulted_tti if physics == "tti" else datasets.faulted_visco)(
        start.shape, 15.0)[1]
    config = copy.deepcopy(FWI_CONFIG)
    config["data"]["shots"] = str(modeled / "shots.sgy")
    config["starting_model"]["path"] = str(modeled / "start.npz")
    del config["true_model"], config["inversion"]["multiscale"]
    config["propagator"]["physics"] = physics
    config["inversion"]["epochs"] = 1
    config["parameters"] = {}
    for name in model:
        if name != "vp":
            np.save(tmp_path / f"{name}.npy", model[name])
            config["parameters"][name] = str(tmp_path / f"{name}.npy")
    path = write_fwi_config(tmp_path, config)
    assert cli.main(["fwi", str(path), "--out", str(tmp_path / "o")]) == 0
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert metrics["inversion"]["physics"] == physics
    assert metrics["inversion"]["fields"] == ["vp"]
    assert not np.array_equal(np.load(tmp_path / "o" / "inverted.npy"), start)
    # A missing field, and a field outside its bounds, name the section.
    capsys.readouterr()
    missing = dict(config, parameters={})
    assert cli.main(["fwi", str(write_fwi_config(tmp_path, missing, "missing.yaml"))]) == 2
    assert "parameters" in capsys.readouterr().err
    name = "epsilon" if physics == "tti" else "qp"
    np.save(tmp_path / f"{name}.npy", -model[name] - 1.0)
    assert cli.main(["fwi", str(path)]) == 2
    assert f"'{name}'" in capsys.readouterr().err


# ----------------------------------------------------------------------------- errors

def _set(config, dotted, value):
    """A copy of ``config`` with the dotted field set (or deleted if value is DELETE)."""
    config = copy.deepcopy(config)
    *parents, key = dotted.split(".")
    node = config
    for parent in parents:
        node = node.setdefault(parent, {})
    if value is DELETE:
        del node[key]
    else:
        node[key] = value
    return config


class _Delete:
    """Marks a field to delete; its repr keeps test ids the same in every process."""

    def __repr__(self):
        return "DELETE"


DELETE = _Delete()

BAD_FWI = [
    # (field to change, bad value, field named in the message)
    ("inversoin", {"epochs": 2}, "inversoin"),                             # unknown section
    ("inversion.epoch", 3, "inversion.epoch"),                             # unknown key
    ("inversion.epochs", "ten", "inversion.epochs"),                       # wrong type
    ("inversion.epochs", 0, "inversion.epochs"),                           # out of range
    ("inversion.epochs", 1, "inversion.epochs"),                           # < stages
    ("inversion.batch_size", 2.5, "inversion.batch_size"),
    ("inversion.batch_size", 4, "inversion.batch_size"),                   # > nshots
    ("inversion.learning_rate", -1.0, "inversion.learning_rate"),
    ("inversion.learning_rate_decay", 1.5, "inversion.learning_rate_decay"),
    ("inversion.vmax", 1000.0, "inversion.vmax"),                          # below vmin
    ("inversion.vmin", 1600.0, "inversion.vmin"),                          # above start min
    ("inversion.misfit", "l3", "inversion.misfit"),
    ("inversion.water_velocity", 1234.0, "inversion.water_velocity"),      # no such water
    ("inversion.multiscale.cutoffs", [6.0, 4.0], "inversion.multiscale.cutoffs"),
    ("inversion.multiscale.cutoffs", [300.0, "full"], "inversion.multiscale.cutoffs"),
    ("inversion.multiscale.epochs_per_stage", [1, 1, 1],
     "inversion.multiscale.epochs_per_stage"),
    ("inversion.multiscale.filter_order", 0, "inversion.multiscale.filter_order"),
    ("propagator.space_order", 7, "propagator.space_order"),
    ("propagator.absorbing_width", -5, "propagator.absorbing_width"),
    ("propagator.free_surface", "yes", "propagator.free_surface"),
    ("data.shots", "missing.sgy", "data.shots"),                           # missing file
    ("data.shots", "start.npz", "data.shots"),                             # wrong extension
    ("data.shots", "corrupt.sgy", "data.shots"),                           # unreadable
    ("data.f0", DELETE, "data.f0"),                                        # no wavelet
    ("data.f0", -8.0, "data.f0"),
    ("data.wavelet", "wavelet_bad.npy", "data.wavelet"),                   # wrong nt
    ("starting_model", DELETE, "starting_model"),                          # missing section
    ("starting_model.path", "start.npy", "starting_model.spacing"),        # .npy, no spacing
    ("starting_model.path", "nope.npz", "starting_model.path"),
    ("starting_model.spacing", [15.0, 0.0], "starting_model.spacing"),
    ("true_model.path", "small.npy", "true_model.path"),                   # other shape
    ("output.snapshot_every", 0, "output.snapshot_every"),
    ("output", ["fwi_out"], "output"),                                     # not a section
]


@pytest.fixture(scope="module")
def bad_files(modeled):
    (modeled / "corrupt.sgy").write_text("not a SEG-Y file\n" * 400)
    _, start = io.read_velocity(modeled / "start.npz")
    np.save(modeled / "start.npy", start)
    np.save(modeled / "small.npy", start[:10, :10])
    np.save(modeled / "wavelet_bad.npy", np.zeros(7, np.float32))
    return modeled


@pytest.mark.parametrize("dotted, value, field", BAD_FWI,
                         ids=[f"{c[0]}={c[1]!r}"[:50] for c in BAD_FWI])
def test_bad_fwi_field_exits_2_naming_it(bad_files, capsys, dotted, value, field):
    config = _set(FWI_CONFIG, dotted, value)
    if dotted == "data.wavelet":
        del config["data"]["f0"]
    if dotted == "true_model.path":
        config["true_model"]["spacing"] = 15.0
    path = write_fwi_config(bad_files, config, "bad_fwi.yaml")
    assert cli.main(["fwi", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"  {field}:" in err, err
    assert "Traceback" not in err


BAD_MODEL = [
    ("velocity.dataset", "marmousi", "velocity.dataset"),
    ("velocity.options", {"seed": 1, "colour": "red"}, "velocity.options.colour"),
    ("velocity.shape", [40], "velocity.shape"),
    ("velocity.shape", [10, 10], "velocity"),                    # faulted needs >= 20
    ("velocity.path", "vp.npy", "velocity.dataset"),             # both dataset and path
    ("survey.nshots", 0, "survey.nshots"),
    ("survey.dt", 0.0020005, "survey.dt"),                       # not whole microseconds
    ("survey.f0", "8 Hz", "survey.f0"),
    ("survey.source_depth", 5000.0, "survey.source_depth"),      # below the model
    ("survey.colour", 1, "survey.colour"),
    ("output.shots", "shots.txt", "output.shots"),
    ("output.shots", DELETE, "output.shots"),
    ("output", DELETE, "output"),
    ("output.starting_model", {"sigma": 50.0}, "output.starting_model.path"),
]


@pytest.mark.parametrize("dotted, value, field", BAD_MODEL,
                         ids=[f"{c[0]}={c[1]!r}"[:50] for c in BAD_MODEL])
def test_bad_model_field_exits_2_naming_it(tmp_path, capsys, dotted, value, field):
    config = _set(tomllib.loads(MODEL_TOML), dotted, value)
    path = tmp_path / "bad_model.yaml"
    path.write_text(yaml.safe_dump(config))
    assert cli.main(["model", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"  {field}:" in err, err
    assert not (tmp_path / "shots.sgy").exists()


def test_a_velocity_file_in_km_per_s_exits_2_before_modeling(tmp_path, capsys):
    np.save(tmp_path / "vkm.npy", np.full((40, 20), 2.0, np.float32))
    config = tomllib.loads(MODEL_TOML)
    del config["velocity"]["dataset"], config["velocity"]["shape"], \
        config["velocity"]["options"]
    config["velocity"]["path"] = "vkm.npy"
    path = tmp_path / "model.yaml"
    path.write_text(yaml.safe_dump(config))
    assert cli.main(["model", str(path)]) == 2
    err = capsys.readouterr().err
    assert "  velocity.path:" in err and "km/s" in err and "Traceback" not in err, err
    assert not (tmp_path / "shots.sgy").exists()


@pytest.mark.parametrize("name, text", [
    ("bad.toml", "[inversion\nepochs = 2\n"),           # TOML syntax error
    ("bad.yaml", "data: [1, 2\n"),                      # YAML syntax error
    ("list.yaml", "- 1\n- 2\n"),                        # not a mapping
    ("config.json", "{}"),                              # unknown extension
])
def test_unreadable_config_exits_2(tmp_path, capsys, name, text):
    path = tmp_path / name
    path.write_text(text)
    assert cli.main(["fwi", str(path)]) == 2
    assert "CONFIG:" in capsys.readouterr().err


def test_missing_config_and_all_problems_reported(tmp_path, capsys):
    assert cli.main(["model", str(tmp_path / "nope.toml")]) == 2
    assert "file not found" in capsys.readouterr().err
    path = write_fwi_config(tmp_path, {"data": {"shots": 5}, "inversion": {"epochs": -1}})
    assert cli.main(["fwi", str(path)]) == 2
    err = capsys.readouterr().err
    for field in ("data.shots", "data.f0", "starting_model", "inversion.epochs"):
        assert f"  {field}:" in err, err


def test_bad_command_line_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["invert"])
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["fwi"])
    assert exit_info.value.code == 2


def test_python_dash_m_exit_code_and_message(tmp_path):
    path = write_fwi_config(tmp_path, _set(FWI_CONFIG, "propagator.space_order", "eight"))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "keras_seismic", "fwi", str(path)],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 2
    assert "propagator.space_order: expected an even whole number from 2 to 16" in \
        result.stderr
    assert "Traceback" not in result.stderr


# ----------------------------------------------------------------------------- examples

def test_example_configs_are_valid_and_consistent(tmp_path):
    """examples/configs/model.toml writes what examples/configs/fwi.yaml reads."""
    for name in ("model.toml", "fwi.yaml"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    model = cli.parse_model_config(cli.load_config(tmp_path / "model.toml"), base=tmp_path)
    written = {model["output"]["shots"], model["output"]["velocity"],
               model["output"]["starting_model"]["path"]}
    for path in written:                 # stand-ins, so that fwi.yaml finds its inputs
        path.write_bytes(b"")
    fwi = cli.parse_fwi_config(cli.load_config(tmp_path / "fwi.yaml"), base=tmp_path)
    assert {fwi["data"]["shots"], fwi["starting_model"]["path"],
            fwi["true_model"]["path"]} <= written
    assert fwi["inversion"]["cutoffs"] and fwi["output"]["directory"] == tmp_path / "out"


def test_docs_show_the_example_configs():
    """docs/cli.md shows examples/configs/fwi.yaml and model.toml as they are."""
    docs = (ROOT / "docs" / "cli.md").read_text()
    for name in ("fwi.yaml", "model.toml"):
        lines = (EXAMPLES / name).read_text().splitlines()
        body = lines[next(i for i, line in enumerate(lines) if not line.startswith("#")):]
        missing = [line for line in body if line.strip() and line not in docs]
        assert not missing, f"{name} lines not in docs/cli.md: {missing}"
