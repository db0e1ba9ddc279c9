"""Limits shared by the command line, the demo and the API (a light module: no torch import)."""

#: the most flow steps the CLI and the demo accept (the cost grows linearly with them; BAGEL uses 50)
MAX_STEPS = 100

#: the view counts a self-ensemble of the LQ-guided heads takes (2: + mirror; 4: + upside down; 8: + the quarter
#: turns; ``uare.model.refiner.VIEWS``)
SELF_ENSEMBLE_VIEWS = (1, 2, 4, 8)
