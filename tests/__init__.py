"""The test suite: tests/unit (in process, on moto), tests/stack (against a running local stack),
tests/helpers (what both use)."""
