# SPDX-License-Identifier: GPL-2.0-or-later
"""Fixtures for vigil's integration tests (real runc, busybox rootfs, podman).

Environment:
  VIGIL_BUILD_DIR      build dir (default /work/main/build); scratch lives in
                       $VIGIL_BUILD_DIR/test-scratch
  VIGIL_TEST_MONITOR   monitor binary under test (default $VIGIL_BUILD_DIR/conmon);
                       use /usr/bin/conmon to check the suite against Debian's conmon 2.1.6
  VIGIL_TEST_ASSUME_VIGIL=1|0
                       override the detection (`--version` has a line starting with
                       "vigil"), e.g. to see which vigil-only expectations conmon fails
"""
import glob
import hashlib
import os
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import monitor as m  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD_DIR = os.path.abspath(os.environ.get("VIGIL_BUILD_DIR", os.path.join(REPO, "build")))
SCRATCH = os.path.join(BUILD_DIR, "test-scratch")
MONITOR = os.path.abspath(os.environ.get("VIGIL_TEST_MONITOR", os.path.join(BUILD_DIR, "conmon")))


def _registry_paths():
    """Monitors and vigilctl use a registry under SCRATCH, never /run/vigil: monitor_env() and
    Podman's conmon_env_vars pass it on, and vigilctl inherits it.  Its entries are meant to be
    short socket addresses (<dir>/<64 hex>.sock within sun_path's 107 bytes): a deep build tree
    is reached through a symlink in /run, as podman_root() does.  The registry is the "r"
    below the link: a monitor still exiting after the session creates the registry, never its
    parent, so once the link is gone it cannot leave a directory in /run."""
    real = os.path.join(SCRATCH, "registry")
    if len(real) + len("/r/by-name/") + 64 + len(".sock") <= 107:
        return real, None
    return "/run/vigil-it-reg-%s" % hashlib.sha256(real.encode()).hexdigest()[:8], real


_REGISTRY_TOP, _REGISTRY_REAL = _registry_paths()
m.REGISTRY_DIR = os.path.join(_REGISTRY_TOP, "r")
os.environ["VIGIL_REGISTRY_DIR"] = m.REGISTRY_DIR


def pytest_configure(config):
    config.addinivalue_line("markers", "podman: end-to-end tests through podman 4.3.1")
    config.addinivalue_line("markers", "slow: tests that take several seconds")
    config.addinivalue_line("markers", "vigil_only: behaviour vigil guarantees and conmon 2.1.6 lacks")
    config.addinivalue_line("markers", "crio: through CRI-O 1.33 (crio_node.py; skipped without ../shared/crio)")
    if config.option.basetemp is None:
        os.makedirs(SCRATCH, exist_ok=True)
        config.option.basetemp = os.path.join(SCRATCH, "pytest")


def _version_output(path):
    try:
        r = subprocess.run([path, "--version"], capture_output=True, timeout=10)
    except OSError:
        return None
    return r.stdout.decode(errors="replace")


@pytest.fixture(scope="session")
def monitor_path():
    if not (os.path.isfile(MONITOR) and os.access(MONITOR, os.X_OK)):
        pytest.fail(f"monitor under test {MONITOR} is missing or not executable "
                    "(build vigil or set VIGIL_TEST_MONITOR)")
    return MONITOR


@pytest.fixture(scope="session")
def monitor_version(monitor_path):
    return _version_output(monitor_path) or ""


@pytest.fixture(scope="session")
def is_vigil(monitor_version):
    """True when `MONITOR --version` has a line starting with "vigil"."""
    return IS_VIGIL


def _vigil_detect():
    forced = os.environ.get("VIGIL_TEST_ASSUME_VIGIL")
    if forced in ("0", "1"):
        return forced == "1"
    out = _version_output(MONITOR) if os.path.exists(MONITOR) else None
    return bool(out) and any(line.startswith("vigil") for line in out.splitlines())


IS_VIGIL = _vigil_detect()
vigil_only = pytest.mark.skipif(not IS_VIGIL, reason="vigil-specific behaviour (conmon 2.1.6 differs)")


class Env:
    def __init__(self, monitor, workdir):
        self.monitor = monitor
        self.workdir = workdir
        self.runc_root = os.path.join(workdir, "runc-root")
        os.makedirs(self.runc_root, exist_ok=True)
        self.rootfs = m.Rootfs(REPO, workdir)
        self.containers = []


@pytest.fixture(scope="session")
def env(monitor_path, tmp_path_factory):
    if not shutil.which("runc"):
        pytest.skip("runc not installed")
    e = Env(monitor_path, str(tmp_path_factory.mktemp("session")))
    yield e
    for c in e.containers:
        c.cleanup()


@pytest.fixture(scope="session", autouse=True)
def registry_dir():
    """The suite's registry (_registry_paths()), removed at the end: entries of monitors a test
    SIGKILLed on purpose stay until a client notices them."""
    os.makedirs(_REGISTRY_REAL or _REGISTRY_TOP, exist_ok=True)
    if _REGISTRY_REAL:
        if os.path.islink(_REGISTRY_TOP):
            os.unlink(_REGISTRY_TOP)
        elif os.path.isdir(_REGISTRY_TOP):
            shutil.rmtree(_REGISTRY_TOP)    # made up by a monitor of an older version of this file
        os.symlink(_REGISTRY_REAL, _REGISTRY_TOP)
    yield m.REGISTRY_DIR
    if _REGISTRY_REAL and os.path.islink(_REGISTRY_TOP):
        os.unlink(_REGISTRY_TOP)
    shutil.rmtree(_REGISTRY_REAL or _REGISTRY_TOP, ignore_errors=True)


def _podman_cgroups():
    """podman's parent cgroups (cgroupfs manager): /libpod_parent in every hierarchy."""
    return glob.glob("/sys/fs/cgroup/libpod_parent") + glob.glob("/sys/fs/cgroup/*/libpod_parent")


@pytest.fixture(scope="session", autouse=True)
def podman_cgroups():
    """podman makes /libpod_parent (and libpod_parent/conmon) on first use and never removes
    them: the suite removes what it made, empty, at the end.  A host that had them keeps them."""
    had = _podman_cgroups()
    yield
    if had:
        return
    for top in _podman_cgroups():
        for d, _, _ in sorted(os.walk(top), key=lambda w: -w[0].count("/")):
            try:
                os.rmdir(d)
            except OSError as e:
                print(f"conftest: cannot remove {d}: {e}")


@pytest.fixture
def container(env, tmp_path):
    """Factory: container(args, **kw) -> monitor.Container living in this test's tmp dir."""
    made = []

    def make(args, **kw):
        c = m.Container(env, str(tmp_path / ("c%d" % len(made))), args, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        c.cleanup()


@pytest.fixture(scope="session")
def podman_alt(env):
    """A second, independent podman store (SCRATCH/pm-alt) for test files other than
    test_podman.py, so two session fixtures never share (and wipe) one store."""
    import test_podman as tp
    if not shutil.which("podman"):
        pytest.skip("podman not installed")
    root = tp.podman_root("pm-alt")
    p = tp.Podman(env.monitor, root, os.path.join(env.rootfs.dir, "rootfs"))
    yield p
    p.close()
