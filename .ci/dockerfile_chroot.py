#!/usr/bin/env python3
"""Build and run the Dockerfile's image without a Docker engine, in a chroot.

Some machines (this project's CI among them) have the Docker client but no engine, so
``docker build`` cannot run there. This script carries out the Dockerfile's own
instructions, read from the file rather than copied, in a Debian root file system made
with ``debootstrap``. It then runs the image's ENTRYPOINT and CMD as the image's user,
with a host folder mounted on the image's VOLUME, the way ``docker run -v`` would.

The base image ``python:3.11-slim-bookworm`` cannot be pulled without a registry, so it is
stood in for by Debian bookworm with Debian's Python 3.11 in a virtual environment at
``/usr/local``. That puts ``python`` and ``pip`` on the same paths as in the official
image. Everything after FROM runs exactly as written: the apt-get lines with their
pinned versions, the pip install, useradd, the ownership and mode changes.

Supported instructions: FROM, ENV, RUN, WORKDIR, COPY, USER, VOLUME, ENTRYPOINT, CMD.
Any other instruction is an error, so the Dockerfile cannot drift silently out of what
this check covers.

Usage (as root, with debootstrap installed)::

    python3 .ci/dockerfile_chroot.py --out out-docker              # the image's CMD
    python3 .ci/dockerfile_chroot.py --out out-docker -- demo --out /out --quick

The root file system is built under ``--root`` (default ``/var/tmp/keras-seismic-image``)
and removed afterwards unless ``--keep`` is given. The base stage (debootstrap and
Python) is cached as a tarball next to it, so a second run skips the download.
"""
import argparse
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
DOCKERFILE = os.path.join(ROOT, "Dockerfile")
MIRROR = "http://deb.debian.org/debian"
# The host's certificate authorities, for pip inside the build: where the network goes
# through a TLS-inspecting proxy (as on this project's CI machines), PyPI's certificate is
# signed by the proxy's own authority, which only the host's bundle knows.
HOST_CA = "/etc/ssl/certs/ca-certificates.crt"
BUILD_CA = "/etc/ssl/host-ca-certificates.crt"

# What python:3.11-slim-<suite> sets up, rebuilt from Debian's packages.
BASE_IMAGES = {
    "python:3.11-slim-bookworm": dict(
        suite="bookworm",
        # The official image keeps Python's headers: pyrevolve builds from source.
        packages=["python3.11", "python3.11-venv", "python3.11-dev", "ca-certificates"],
        setup="python3.11 -m venv /usr/local && /usr/local/bin/pip install -q --upgrade pip",
        env={"PATH": "/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
             "LANG": "C.UTF-8"}),
}
SUPPORTED = {"FROM", "ENV", "RUN", "WORKDIR", "COPY", "USER", "VOLUME", "ENTRYPOINT", "CMD"}


def instructions(path=DOCKERFILE):
    """The Dockerfile's instructions as (KEYWORD, arguments), continuation lines joined."""
    with open(path) as handle:
        text = handle.read()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    result = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, args = line.strip().partition(" ")
            result.append((keyword.upper(), args.strip()))
    return result


def _say(message):
    print(f"[dockerfile-chroot {time.strftime('%H:%M:%S')}] {message}", flush=True)


def _run(command):
    # No terminal, as in `docker build`: apt and debconf must not wait for an answer.
    _say("$ " + shlex.join(command))
    subprocess.run(command, check=True, stdin=subprocess.DEVNULL)


def _remove(root):
    """Delete a root file system, but never through a mount left inside it (/dev!)."""
    with open("/proc/mounts") as handle:
        mounted = [line.split()[1] for line in handle
                   if line.split()[1].startswith(root.rstrip("/") + "/")]
    if mounted:
        raise SystemExit(f"{root} still has mounts inside it: {mounted}; unmount them first")
    shutil.rmtree(root)


def _home(root, user):
    """The home folder /etc/passwd gives the user ("uid[:gid]", None for root)."""
    uid = int(user.split(":")[0]) if user else 0
    with open(os.path.join(root, "etc/passwd")) as handle:
        homes = {int(f[2]): f[5] for f in (line.split(":") for line in handle) if len(f) > 5}
    return homes.get(uid, "/")


class Chroot:
    """A root file system with /proc, /dev and the host's DNS, and commands run in it."""

    def __init__(self, root):
        self.root = root
        self.mounts = []

    def path(self, inside):
        return os.path.join(self.root, inside.lstrip("/"))

    def mount(self, source, target, *options):
        os.makedirs(self.path(target), exist_ok=True)
        _run(["mount", *options, source, self.path(target)])
        self.mounts.append(self.path(target))

    def __enter__(self):
        self.mount("proc", "/proc", "-t", "proc")
        self.mount("/dev", "/dev", "--rbind")
        shutil.copy("/etc/resolv.conf", self.path("/etc/resolv.conf"))
        if os.path.exists(HOST_CA):
            os.makedirs(os.path.dirname(self.path(BUILD_CA)), exist_ok=True)
            shutil.copy(HOST_CA, self.path(BUILD_CA))
        return self

    def __exit__(self, *exc):
        for target in reversed(self.mounts):
            subprocess.run(["umount", "--recursive", "--lazy", target], check=False)
        self.mounts.clear()

    def shell(self, command, env, workdir="/", user=None):
        """Run a shell command inside, as ``user`` ("uid[:gid]", default root)."""
        spec = ["--userspec=" + (user if ":" in user else f"{user}:{user}")] if user else []
        script = f"cd {shlex.quote(workdir)} && {command}"
        _run(["chroot", *spec, self.root, "/usr/bin/env", "-i",
              *(f"{k}={v}" for k, v in env.items()), "/bin/sh", "-c", script])


def _build_env(env):
    """``env`` for a build step: pip also trusts the host's certificate authorities."""
    return {**env, "PIP_CERT": BUILD_CA} if os.path.exists(HOST_CA) else env


def _base(image, root):
    """Make the base stage in ``root``, from a cached tarball when there is one."""
    if image not in BASE_IMAGES:
        raise SystemExit(f"FROM {image}: this script knows only {sorted(BASE_IMAGES)}")
    base = BASE_IMAGES[image]
    key = hashlib.sha256(json.dumps(base, sort_keys=True).encode()).hexdigest()[:12]
    cache = root.rstrip("/") + f"-base-{base['suite']}-{key}.tar"
    os.makedirs(root)
    if os.path.exists(cache):
        _say(f"base stage from {cache}")
        with tarfile.open(cache) as tar:
            tar.extractall(root, numeric_owner=True, filter="fully_trusted")
        return base
    _run(["debootstrap", "--variant=minbase", base["suite"], root, MIRROR])
    with Chroot(root) as chroot:
        env = _build_env({**base["env"], "DEBIAN_FRONTEND": "noninteractive"})
        chroot.shell("apt-get update -q && apt-get install -y -q --no-install-recommends "
                     + " ".join(base["packages"]) + " && rm -rf /var/lib/apt/lists/*", env)
        chroot.shell(base["setup"], env)
    with tarfile.open(cache + ".part", "w") as tar:
        tar.add(root, arcname=".")
    os.replace(cache + ".part", cache)
    return base


def _environment(args, env):
    """ENV's KEY=VALUE pairs (values may be quoted), with $VAR expanded from ``env``."""
    for pair in shlex.split(args):
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"ENV {args!r}: only the KEY=VALUE form is supported")
        env[key] = re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), ""), value)


def build(root, context=ROOT):
    """Carry out the Dockerfile in ``root``; returns what ``docker run`` needs."""
    steps = instructions(os.path.join(context, "Dockerfile"))
    unknown = sorted({keyword for keyword, _ in steps} - SUPPORTED)
    if unknown:
        raise SystemExit(f"the Dockerfile uses {unknown}, which this check does not cover")
    if steps[0][0] != "FROM":
        raise SystemExit("the Dockerfile must start with FROM")
    base = _base(steps[0][1], root)
    image = dict(env=dict(base["env"]), workdir="/", user=None, volumes=[],
                 entrypoint=[], cmd=[])
    with Chroot(root) as chroot:
        for keyword, args in steps[1:]:
            _say(f"{keyword} {args}")
            if keyword == "ENV":
                _environment(args, image["env"])
            elif keyword == "WORKDIR":
                image["workdir"] = os.path.join(image["workdir"], args)
                os.makedirs(chroot.path(image["workdir"]), exist_ok=True)
            elif keyword == "COPY":
                *sources, target = shlex.split(args)
                target = os.path.join(image["workdir"], target)
                for source in sources:
                    origin = os.path.join(context, source)
                    into = chroot.path(target)
                    if os.path.isdir(origin):
                        shutil.copytree(origin, into, dirs_exist_ok=True,
                                        ignore=shutil.ignore_patterns("__pycache__"))
                    else:
                        os.makedirs(into, exist_ok=True)
                        shutil.copy(origin, into)
            elif keyword == "RUN":
                env = _build_env({"HOME": _home(root, image["user"]), **image["env"]})
                chroot.shell(args, env, image["workdir"], image["user"])
            elif keyword == "USER":
                image["user"] = args
            elif keyword == "VOLUME":
                image["volumes"] += json.loads(args) if args.startswith("[") else args.split()
            else:  # ENTRYPOINT, CMD: only the exec (JSON) form
                image[keyword.lower()] = json.loads(args)
    return image


def run(root, image, volume, command=None):
    """``docker run -v volume:<the image's VOLUME> image [command]``."""
    if len(image["volumes"]) != 1:
        raise SystemExit(f"expected one VOLUME, found {image['volumes']}")
    argv = image["entrypoint"] + (command or image["cmd"])
    env = {"HOME": _home(root, image["user"]), **image["env"]}
    with Chroot(root) as chroot:
        chroot.mount(volume, image["volumes"][0], "--bind")
        chroot.shell(shlex.join(argv), env, image["workdir"], image["user"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default="/var/tmp/keras-seismic-image",
                        help="where to build the root file system (removed first)")
    parser.add_argument("--out", required=True,
                        help="host folder mounted on the image's VOLUME")
    parser.add_argument("--keep", action="store_true", help="keep the root file system")
    parser.add_argument("command", nargs="*", help="instead of the image's CMD")
    args = parser.parse_args()
    if os.geteuid() != 0 or not shutil.which("debootstrap"):
        raise SystemExit("run as root with debootstrap installed (apt-get install debootstrap)")
    root = os.path.abspath(args.root)
    if os.path.exists(root):
        _remove(root)
    started = time.monotonic()
    try:
        image = build(root)
        _say(f"image built in {time.monotonic() - started:.0f} s; "
             f"running {image['entrypoint'] + (args.command or image['cmd'])} "
             f"as user {image['user'] or 'root'}")
        os.makedirs(args.out, exist_ok=True)
        # As `mkdir out` by a desktop user whose uid is the image's: docker run -v keeps the
        # host folder's owner, and the image's user must be able to write there.
        if image["user"]:
            uid, _, gid = image["user"].partition(":")
            os.chown(args.out, int(uid), int(gid or uid))
        ran = time.monotonic()
        run(root, image, os.path.abspath(args.out), args.command)
        _say(f"the container's command finished in {time.monotonic() - ran:.0f} s; "
             f"{time.monotonic() - started:.0f} s in all")
    finally:
        if not args.keep and os.path.exists(root):
            _remove(root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
