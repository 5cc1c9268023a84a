"""``python -m conformance`` is the ``conformance`` command."""

import sys

if __name__ == "__main__":
    try:
        from conformance.cli import main
    except KeyboardInterrupt:  # Ctrl-C while starting up: no traceback, same exit code
        sys.exit(130)
    sys.exit(main())
