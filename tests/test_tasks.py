"""The task table is the one list of tasks: everything that names tasks agrees with it."""

from __future__ import annotations

import numpy as np
import pytest

from uare import prompts, tasks
from uare.baselines.base import TASKS as BASELINE_TASKS
from uare.cli_infer import TASKS as CLI_TASKS
from uare.degrade.types import CATEGORIES
from uare.quality import instruction, parse_instruction
from uare.quality.templates import INSTRUCTIONS, INTENTS
from uare.quality.templates import TASKS as POOLS
from uare.web.handlers import TASKS as DEMO_TASKS


def test_every_list_of_tasks_derives_from_the_table():
    image = tuple(t.name for t in tasks.TASKS.values() if t.makes_image)
    assert image[0] == "auto" and prompts.RESTORE_TASKS == CLI_TASKS == DEMO_TASKS == image
    assert tasks.ENHANCE_TASKS == ("lowlight", "dehaze")
    assert set(BASELINE_TASKS) == set(tasks.TASK_CATEGORY) == set(image) - {"auto"}
    assert tasks.IQA_TASKS == ("score", "description", "compare")
    assert (*image, "assess", "compare") == POOLS


@pytest.mark.parametrize("task", list(tasks.TASKS))
def test_each_row_is_complete(task):
    t = tasks.TASKS[task]
    assert t.kind in ("iqa", "restore", "enhance") and t.expert in ("understanding", "generation")
    assert (t.expert == "generation") == t.makes_image
    if t.category is not None:
        assert t.category in CATEGORIES
    if t.name != "score":
        assert INSTRUCTIONS[t.pool], f"no phrasings for {t.pool}"
    if t.makes_image:
        assert INTENTS[t.name]
        assert prompts.restore_instruction(t.name, 2)  # the request inference makes


@pytest.mark.parametrize("task", [t for t in tasks.TASK_CATEGORY])
def test_request_words_recognise_the_tasks_own_phrasings(task):
    """Every phrasing training draws for a single-purpose task is read back as that task."""
    seen = {instruction(task, np.random.default_rng(k), scale=4) for k in range(200)}
    assert seen and all(parse_instruction(s) == task for s in seen), [s for s in seen if parse_instruction(s) != task]


def test_unknown_tasks_are_refused_with_the_choices():
    with pytest.raises(ValueError, match="unknown task 'despeckle'; choose from auto, sr"):
        prompts.restore_instruction("despeckle")
