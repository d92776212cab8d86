"""Fakes of the outside world (Discord, ...) used by the test-suite."""
