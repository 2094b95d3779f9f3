"""What ``make bench`` (devtools/bench.py) measures with, besides the round-trip recording it
shares with the unit tests (tests/helpers/steps.py):

- ``stub``: an HTTP stub of AWS that replays the recorded answers, in a process of its own.
- ``lambda_run``: one function run from the ``sam build`` output the way Lambda runs it.
- ``layer``: the built layer's size, files, bytecode and binaries (``make check-layer``).
- ``load``: whole flows against the local stack by many users at once.
- ``results``: whether a run's bench-results.json holds every figure (CI).
"""
