"""Convert GPT-2 weights into potatogpt's format: `python export_weights.py --help`.

The work happens in potatogpt/convert/ (export.py; command.py is this command line), so that
`python -m potatogpt` can download and convert a missing model with the same code.
"""

from potatogpt.convert.command import main

raise SystemExit(main())
