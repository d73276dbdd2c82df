"""What importing the package costs and changes: nothing heavy until it is used, no
TensorFlow lines from the command line, and Keras still finds the package's classes."""
import importlib
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

import keras_seismic
from keras_seismic import serializable

HEAVY = ("tensorflow", "keras", "devito", "tensorflow_probability", "matplotlib", "segyio",
         "dask")


def python(code, **env):
    """Run ``code`` in a fresh interpreter with the test's environment minus the quieting
    of TensorFlow (so that its log lines would show), plus ``env``."""
    environ = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env={**environ, **env}, timeout=300)


def test_importing_the_package_imports_nothing_heavy_and_changes_no_setting():
    result = python(f"""
        import os, sys
        before = dict(os.environ)
        import keras_seismic as ks
        ks.Grid((10, 10), (5.0, 5.0))
        print(sorted(m for m in {HEAVY!r} if m in sys.modules), dict(os.environ) == before)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["[]", "True"], result.stdout


def test_help_and_errors_of_the_command_line_print_no_tensorflow_lines(tmp_path):
    """``keras-seismic --help`` imports nothing heavy; an error message after the config
    was read (which imports the propagator) has our line only."""
    script = shutil.which("keras-seismic", path=os.path.dirname(sys.executable))
    command = [script] if script else [sys.executable, "-m", "keras_seismic"]
    environ = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(command + ["--help"], capture_output=True, text=True,
                            env=environ, timeout=120)
    assert result.returncode == 0 and result.stdout.startswith("usage: keras-seismic")
    assert result.stderr == ""
    probe = python("""
        import sys
        from keras_seismic import cli
        try:
            cli.main(["--help"])
        except SystemExit:
            pass
        print([m for m in ("tensorflow", "keras", "devito") if m in sys.modules])
    """)
    assert probe.stdout.splitlines()[-1] == "[]", probe.stdout
    (tmp_path / "bad.yaml").write_text("data: {shots: missing.sgy}\n")
    result = subprocess.run(command + ["fwi", str(tmp_path / "bad.yaml")],
                            capture_output=True, text=True, env=environ, timeout=300)
    assert result.returncode == 2
    assert result.stderr.startswith("keras-seismic fwi: error:"), result.stderr
    for noise in ("absl", "cuda", "cuInit", "I0000", "E0000", "W0000", "oneDNN"):
        assert noise not in result.stderr, result.stderr


def test_the_inversion_starts_tensorflow_without_its_device_probe_lines():
    """As the Docker image runs it, with TF_CPP_MIN_LOG_LEVEL=2 (errors shown): TensorFlow
    probes for CUDA, and fails, when its devices are first listed, after the import."""
    result = python("""
        from keras_seismic.cli.inversion import _import_tensorflow_quietly
        _import_tensorflow_quietly()
        import tensorflow as tf
        print(float(tf.constant(1.0) + 1.0))
    """, TF_CPP_MIN_LOG_LEVEL="2")
    assert result.returncode == 0 and result.stdout.split() == ["2.0"], result.stderr
    assert result.stderr == ""


@pytest.mark.parametrize("order", ["keras_seismic, keras", "keras, keras_seismic"])
def test_keras_finds_the_classes_in_a_process_that_only_imported_the_package(order):
    """A stand-in is registered when Keras is imported, before or after the package, and
    deserialising through it imports the real class."""
    result = python(f"""
        import {order}
        box = keras.constraints.deserialize({{
            "module": "keras_seismic.constraints", "class_name": "Box",
            "registered_name": "keras_seismic>Box",
            "config": {{"vmin": 1500.0, "vmax": 3000.0}}}})
        from keras_seismic.constraints import Box
        assert type(box) is Box and box.vmax == 3000.0, box
        assert keras.saving.get_custom_objects()["keras_seismic>Box"] is Box
        print("OK")
    """, TF_CPP_MIN_LOG_LEVEL="3")
    assert "OK" in result.stdout, result.stderr[-3000:]


def test_the_list_of_serializable_classes_is_what_the_modules_register():
    import keras
    for module in set(serializable.CLASSES.values()):
        importlib.import_module(f"keras_seismic.{module}")
    registered = {name.split(">", 1)[1]: obj for name, obj in
                  keras.saving.get_custom_objects().items()
                  if name.startswith(serializable.PACKAGE + ">")}
    assert sorted(registered) == sorted(serializable.CLASSES)
    for name, obj in registered.items():
        assert isinstance(obj, type), (name, obj)      # the class itself, not its stand-in
        assert obj.__module__ == f"keras_seismic.{serializable.CLASSES[name]}"


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Propagatr'"):
        keras_seismic.Propagatr  # noqa: B018
    assert "layers" in dir(keras_seismic) and "AcousticPropagator" in dir(keras_seismic)
