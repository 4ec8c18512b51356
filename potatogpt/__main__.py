from . import _quit_if_interrupted

try:
    from .cli import main
except (KeyboardInterrupt, RuntimeError) as e:  # Ctrl-C while the command line loads
    _quit_if_interrupted(e)
    raise

raise SystemExit(main())
