"""Limits shared by the command line, the demo and the API (a light module: no torch import)."""

#: the most flow steps the CLI and the demo accept (the cost grows linearly with them; BAGEL uses 50)
MAX_STEPS = 100
