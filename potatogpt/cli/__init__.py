"""The command line and the terminal: `python -m potatogpt ...` (see main.py).

    main.py       picks the command from the first word; every failure becomes one line
    generate.py   the default command: prompt in, tokens out, one at a time
    look.py       the instruments: trace, tokens, score, attention, lens, sample (--html: as pages)
    report.py     report: all six instruments for one text on one page, the handout
    train.py      train: GPT-2 that learns (run_state.py saves and resumes it, curves.py draws its curves)
    gradcheck.py  gradcheck: the backward pass against finite differences
    options.py    what the commands share: argument types, the model options, loading a model
    memory.py     will the model fit?  The check before a load
    progress.py   one self-redrawing progress line
    console.py    signals, exit statuses, and output that may be closed or full

This file imports nothing: `potatogpt.cli.main.main` is the entry point.
"""
