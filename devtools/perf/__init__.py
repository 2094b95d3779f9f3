"""What ``make bench`` measures, in parts the tests share.

- ``steps``: every step's success path (and the limits' refusals) run once on moto with each AWS
  call recorded: the round trips per step (``tests/test_round_trips.py`` asserts them, the bench
  prints them), the answers the benchmark's HTTP stub replays, the bare calls warm overhead is
  compared with.
- ``stub``: that HTTP stub, in a process of its own.
- ``layer``: the built layer's size, files, bytecode and binaries (``make check-layer``).
- ``lambda_like``: a function run from the ``sam build`` output the way Lambda runs it.
- ``load``: whole flows against the local stack by many users at once.
"""
