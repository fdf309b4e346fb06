"""Shared pytest setup: hypothesis profiles (derandomized by default, so CI is reproducible)."""

import os

from hypothesis import HealthCheck, settings

# "ci" (the default): derandomized, no deadline (simulator runs vary in time).
# HYPOTHESIS_PROFILE=dev explores new random examples on every run.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_addoption(parser):
    # Defined here (an initial conftest) so `pytest --update-golden` works from the repository
    # root; tests/compiler/conftest.py uses it to rewrite golden files on purpose.
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite golden files (tests/compiler/golden/*.txt) from current output")
