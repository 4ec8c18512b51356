from . import quit_if_interrupted

try:
    from .cli.main import main
except (KeyboardInterrupt, RuntimeError) as e:  # Ctrl-C while the command line loads
    quit_if_interrupted(e)
    raise

raise SystemExit(main())
