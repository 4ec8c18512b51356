import sys

try:
    from .cli import main
except (KeyboardInterrupt, RuntimeError) as e:  # Ctrl-C while the command line loads (see __init__.py)
    if not (isinstance(e, KeyboardInterrupt) or isinstance(e.__cause__, KeyboardInterrupt)):
        raise
    print("\npotatogpt: interrupted", file=sys.stderr)
    raise SystemExit(130) from None

raise SystemExit(main())
