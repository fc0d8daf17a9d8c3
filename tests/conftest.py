import os
import tempfile

import pytest

pytest_plugins = ["tests.support.pg_fixtures", "tests.support.alerting"]

# Nothing a test runs may write into the user's ~/.prefect or ~/.local/share/newsmon.
_HOME = tempfile.mkdtemp(prefix="newsmon-tests-")
os.environ.setdefault("PREFECT_HOME", os.path.join(_HOME, "prefect"))
os.environ.setdefault("NEWSMON_HOME", os.path.join(_HOME, "newsmon"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.pop("PREFECT_API_URL", None)
os.environ.pop("NEWSMON_DB", None)
os.environ.pop("NEWSMON_CONFIG", None)


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect server for the session's flow tests (about 15 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
