"""Where the kernels run: the platform, language and compiler options (docs/gpu.md).

No GPU is needed. Devito's OpenMP-offloading code for an NVIDIA GPU (``platform="nvidiaX",
language="openmp"``) compiles with gcc, whose libgomp runs ``omp target`` regions on the
host when there is no device. So the GPU code path, with its device data movement, runs
here and must give the CPU's results. OpenACC code is generated and inspected, not run:
it needs the NVIDIA HPC SDK's nvc.
"""
import pickle
import shutil

import numpy as np
import pytest
from devito import Grid

import keras_seismic as ks
from keras_seismic import cli
from keras_seismic.physics import Target, solver
from keras_seismic.physics import acoustic as kernels
from helpers import small_problem

OFFLOAD = dict(platform="nvidiaX", language="openmp")


def _with_target(prop, **target):
    return ks.AcousticPropagator(prop.grid, prop.survey, space_order=prop.space_order,
                                 absorbing_width=prop.absorbing_width,
                                 storage=prop.storage, **target)


@pytest.mark.parametrize("setting, value", [("platform", "nvidia"), ("language", "openmpi"),
                                            ("compiler", "icc-99"), ("language", 3)])
def test_unknown_names_are_refused_with_the_known_ones(setting, value):
    prop, _ = small_problem()
    with pytest.raises(ValueError, match=f"{setting} must be None .* one of .*got"):
        _with_target(prop, **{setting: value})


def test_gpu_language_on_a_cpu_platform_is_refused():
    prop, _ = small_problem()
    with pytest.raises(ValueError, match="runs only on a GPU.*nvidiaX"):
        _with_target(prop, platform="skx", language="openacc")


def test_generated_code_targets_the_gpu():
    grid = Grid(shape=(12, 12), extent=(110.0, 110.0))
    offload = kernels.forward_operator(grid, 4, None, True, False, **OFFLOAD)
    assert "#pragma omp target" in str(offload.ccode)
    openacc = kernels.adjoint_operator(grid, 4, None, "stored", False, False,
                                       platform="nvidiaX", language="openacc")
    code = str(openacc.ccode)
    assert "#pragma acc parallel" in code and "#pragma omp" not in code
    cpu = kernels.forward_operator(grid, 4, None, True, False)
    assert "omp target" not in str(cpu.ccode) and "#pragma omp" in str(cpu.ccode)


def test_offloaded_kernels_give_the_cpu_results():
    """Forward, Born and the training gradient through the GPU code path (run on the host
    by libgomp) agree with the CPU kernels to float32 round-off."""
    prop, vp = small_problem(storage="subsampled")
    gpu = _with_target(prop, **OFFLOAD)
    assert gpu.target.on_device and not prop.target.on_device
    dvp = np.full_like(vp, 20.0)
    observed = prop.forward(vp * 1.02)

    def results(p):
        data, state = p.forward_with_state(vp, [0, 1])
        grad = p.gradient(state, data - observed)
        return {"forward": data, "born": p.born(vp, dvp), "gradient": grad}

    cpu, device = results(prop), results(gpu)
    # The device's operators were the ones that ran: built for the target, offloading.
    built = {key[0]: op for key, op in solver._OPERATORS.items() if key[-1] == gpu.target.key}
    assert set(built) == {"forward", "born", "adjoint"}
    assert all("#pragma omp target" in str(op.ccode) for op in built.values())
    # The two codes sum in different orders. The gradient adds up about 300 imaging terms
    # in float32 after two solves, so its round-off bound is about 300 * 6e-8 = 2e-5.
    # Seen here: forward 1.3e-6, Born 3.5e-6, gradient 6.4e-6 (relative L2).
    tolerance = {"forward": 1e-5, "born": 1e-5, "gradient": 5e-5}
    for name in cpu:
        error = np.linalg.norm(device[name] - cpu[name]) / np.linalg.norm(cpu[name])
        assert np.abs(cpu[name]).max() > 0 and error < tolerance[name], (name, error)


def test_target_travels_with_the_propagator():
    prop, _ = small_problem()
    gpu = _with_target(prop, **OFFLOAD)
    config = gpu.get_config()
    assert {k: config[k] for k in OFFLOAD} == OFFLOAD
    for copy in (ks.AcousticPropagator.from_config(config), pickle.loads(pickle.dumps(gpu))):
        assert copy.target.key == gpu.target.key
    # Defaults add nothing, so configs saved before these options still load the same.
    assert not {"platform", "language", "compiler"} & set(prop.get_config())
    assert repr(Target()) == "Target(Devito defaults)"


@pytest.mark.skipif(shutil.which("nvc++") is not None, reason="nvc is installed here")
def test_missing_gpu_compiler_is_named():
    prop, vp = small_problem()
    gpu = _with_target(prop, platform="nvidiaX", language="openacc", compiler="nvc")
    with pytest.raises(RuntimeError, match="forward kernel for Target.*nvc"):
        gpu.forward(vp, shots=[0])


def test_config_file_sets_the_target(tmp_path):
    section = {"platform": "NVIDIAx", "language": "openmp"}
    options = cli._propagator_options(cli._Checker(tmp_path).section(
        section, "propagator", cli._PROPAGATOR_KEYS))
    assert options["platform"] == "nvidiaX" and options["language"] == "openmp"
    checker = cli._Checker(tmp_path)
    cli._propagator_options(checker.section({"platform": "skx", "language": "openacc"},
                                            "propagator", cli._PROPAGATOR_KEYS))
    assert "runs only on a GPU" in str(checker.problems)
