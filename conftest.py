"""Test-session settings shared by the unit tests and the doctests of nbhelpers.

Unit tests run in the offline profile with their own data and Keras caches
(a fresh temporary folder), so they never read or write a reader's downloads.
The nbval run of the notebooks (`make nbtest`) is left alone: it uses data/.
"""

from __future__ import annotations

import os
import tempfile


def _is_nbval(config) -> bool:
    for opt in ("--nbval", "--nbval-lax"):
        try:
            if config.getoption(opt):
                return True
        except ValueError:
            pass
    return False


def pytest_configure(config):
    if _is_nbval(config):
        return
    root = tempfile.mkdtemp(prefix="nbh-test-")
    os.environ["NBH_PROFILE"] = "offline"
    os.environ["NBH_DATA_DIR"] = os.path.join(root, "data")
    os.environ["KERAS_HOME"] = os.path.join(root, "keras")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("MPLBACKEND", "Agg")
    try:
        import tensorflow as tf

        # Two logical CPUs, so MirroredStrategy can be tested on a laptop or in CI.
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2
        )
    except (ImportError, RuntimeError):
        pass


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def mirrored():
    """One MirroredStrategy over the two logical CPUs, shared by every test that needs one:
    two instances in one process number their collective ops alike and clash."""
    tf = pytest.importorskip("tensorflow")
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    strategy = tf.distribute.MirroredStrategy(devices=cpus)
    assert strategy.num_replicas_in_sync == 2
    return strategy
