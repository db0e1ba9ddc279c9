"""The task table: every task uare can be asked for, in one place.

Everything that lists tasks derives from :data:`TASKS`: the instruction pools of the quality language,
the prompts, the CLI's ``--task`` choices, the demo's dropdown, the baselines' settings and the
training data's IQA tasks. Adding a task = a row here and its phrasings in
:mod:`uare.quality.templates` (``INSTRUCTIONS`` and, for an image task, ``INTENTS``).

- ``kind``: ``iqa`` (a text answer), ``restore`` or ``enhance`` (an image, after an analysis);
- ``expert``: which expert answers — ``understanding`` writes text, ``generation`` draws the image
  (attending to the understanding expert's analysis: "assess, then restore");
- ``category``: the degradation category a single-purpose image task removes (``None``: every one found);
- ``pool``: the key of its instruction phrasings in the quality language.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Task:
    """One row of the task table (see the module docstring)."""

    name: str
    kind: str
    expert: str
    category: str | None
    summary: str
    pool: str
    #: a regular expression (case-insensitive) that recognises a free-form request for this task
    #: (:func:`uare.quality.parse_instruction`); "" for tasks recognised otherwise
    request: str = ""

    @property
    def makes_image(self) -> bool:
        return self.kind in ("restore", "enhance")


_ROWS = (
    # image tasks first, in this order (random task draws of the training data index into it)
    Task("auto", "restore", "generation", None, "assess, then fix whatever the analysis finds", "auto"),
    Task("sr", "restore", "generation", "lowres", "super-resolution (x2 / x4) or sharpening a soft image", "sr",
         r"upscal|super-?resol|upsampl|enlarg|resolution|\d\s*[×x](?![a-z0-9])|×\s*\d|\d+ times larger|factor of \d"),
    Task("denoise", "restore", "generation", "noise", "remove noise", "denoise", r"nois|grain"),
    Task("deblur", "restore", "generation", "blur", "remove blur", "deblur",
         r"blur|sharpen|out of focus|defocus|camera shake"),
    Task("jpeg", "restore", "generation", "jpeg", "remove JPEG compression artefacts", "jpeg", r"jpeg|compress|block"),
    Task("lowlight", "enhance", "generation", "lowlight", "brighten a low-light image", "lowlight",
         r"bright|dark|underexpos|low-?light|lighting|exposure"),
    Task("dehaze", "enhance", "generation", "haze", "remove haze", "dehaze", r"haz|fog|mist|smog"),
    Task("derain", "restore", "generation", "rain", "remove rain streaks", "derain", r"\b(?:de)?rain"),
    Task("score", "iqa", "understanding", None, "a 1-5 quality score (Q-Align style: five level words)", "score"),
    Task("description", "iqa", "understanding", None, "describe the quality and the degradations", "assess"),
    Task("compare", "iqa", "understanding", None, "which of two images is better, and why", "compare"),
)

#: name -> :class:`Task`, in table order
TASKS: dict[str, Task] = {t.name: t for t in _ROWS}
#: tasks that produce an image (``UARE.restore(task=...)``), ``auto`` first
RESTORE_TASKS: tuple[str, ...] = tuple(t.name for t in _ROWS if t.makes_image)
#: the enhancement tasks (``uare enhance``)
ENHANCE_TASKS: tuple[str, ...] = tuple(t.name for t in _ROWS if t.kind == "enhance")
#: single-purpose image tasks -> the category each removes
TASK_CATEGORY: dict[str, str] = {t.name: t.category for t in _ROWS if t.makes_image and t.category}
#: the IQA tasks of the training data (``data.sources[].tasks``)
IQA_TASKS: tuple[str, ...] = tuple(t.name for t in _ROWS if t.kind == "iqa")
#: keys of the instruction pools: the image tasks', then the IQA requests that have one
INSTRUCTION_POOLS: tuple[str, ...] = tuple(dict.fromkeys(t.pool for t in _ROWS if t.name != "score"))


def check_task(task: str, allowed: tuple[str, ...] = RESTORE_TASKS) -> None:
    """Raise ``ValueError`` naming the choices when ``task`` is not one of ``allowed``."""
    if task not in allowed:
        raise ValueError(f"unknown task {task!r}; choose from {', '.join(allowed)}")
