# The client tour's server and accounts (tests/e2e/test_tour_*.py), one per package run.
from tests.e2e.tour_fixtures import tour  # noqa: F401
