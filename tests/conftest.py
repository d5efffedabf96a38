"""The project's tests use the fixtures it ships to every suite (app/testing), and
pytester, to run a downstream suite against them (tests/test_testing_plugin.py)."""

pytest_plugins = ["app.testing", "pytester"]
