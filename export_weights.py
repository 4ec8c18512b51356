"""Convert GPT-2 weights into potatogpt's format: `python export_weights.py --help`.

The work happens in potatogpt/export.py, so `python -m potatogpt --download` can share it.
"""

from potatogpt.convert.export import main

raise SystemExit(main())
