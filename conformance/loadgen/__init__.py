"""Load generation with Locust: users per dialect, open-loop drivers, result files.

The modules split by whether they import Locust (and so gevent's monkey-patching):

- pure, importable anywhere: :mod:`~conformance.loadgen.options`,
  :mod:`~conformance.loadgen.prompts`, :mod:`~conformance.loadgen.schedule`,
  :mod:`~conformance.loadgen.sse_fast`, :mod:`~conformance.loadgen.target`,
  :mod:`~conformance.loadgen.result`, :mod:`~conformance.loadgen.runner` (which starts
  Locust in a child process);
- Locust only, imported in load-generating processes: :mod:`~conformance.loadgen.users`,
  :mod:`~conformance.loadgen.plugin` (the event hooks), :mod:`~conformance.loadgen.process`
  (what a process's users share), :mod:`~conformance.loadgen.output` (the result, snapshot
  and progress files) and the packaged ``locustfile``.

This package's ``__init__`` imports nothing, so ``import conformance.loadgen.runner``
never brings gevent into the ``conformance`` process.
"""
