"""Shared pytest setup: hypothesis profiles (derandomized by default, so CI is reproducible)."""

import os

from hypothesis import HealthCheck, settings

# "ci" (the default): derandomized, no deadline (simulator runs vary in time).
# HYPOTHESIS_PROFILE=dev explores new random examples on every run.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
