"""The security tests reuse the reliability fixtures: the stand-in behind the fault proxy, a real git project
with an image, fast client timeouts and an isolated cache."""

from tests.reliability.conftest import _isolated, env, project, proxy  # noqa: F401 - fixtures
