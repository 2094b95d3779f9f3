"""Tests against a running local stack over HTTP: the emulator, the dev server, the fuzzer, the browser, the probe."""
