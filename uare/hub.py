"""Model folders named by Hugging Face Hub id: ``ORG/NAME[@REVISION]`` resolved into the Hub's cache.

``--model`` and :meth:`uare.infer.UARE.from_pretrained` take a local folder or a Hub id, for uare and
BAGEL layouts alike (``ByteDance-Seed/BAGEL-7B-MoT``). A name that exists on disk is always the local
folder. Otherwise a name of the form ``ORG/NAME`` (one slash, no leading ``.``, ``/`` or ``~``) is a
Hub id: it is fetched with ``huggingface_hub.snapshot_download`` (the ``hub`` extra) into its cache,
or, with ``HF_HUB_OFFLINE=1`` or without a network, found in that cache. Only weights and text files
are fetched (``*.safetensors``, ``*.json``, tokenizer files, the model card): never pickles.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from uare.errors import UareError

#: ORG/NAME with Hub-legal characters, and an optional @REVISION (branch, tag or commit)
_HUB_ID = re.compile(r"^(?P<repo>[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95})(?:@(?P<rev>[\w./-]{1,255}))?$")
#: what a uare or BAGEL checkpoint folder needs (no .bin / .pt / .pth: those would be pickles)
ALLOW_PATTERNS = ["*.safetensors", "*.json", "*.txt", "*.model", "merges.txt", "vocab.json", "*.md"]


class HubError(UareError):
    """A Hub id that cannot be resolved (offline and not cached, unknown repo or revision, no extra)."""


def parse_hub_id(name: str) -> tuple[str, str | None] | None:
    """``(repo_id, revision)`` when ``name`` has the form of a Hub id, else ``None``."""
    if not name or name.startswith((".", "/", "~")) or "\\" in name:
        return None
    m = _HUB_ID.match(name)
    if not m or ".." in m.group("repo"):
        return None
    return m.group("repo"), m.group("rev")


def resolve_model(name: str | os.PathLike[str], revision: str | None = None) -> Path:
    """The local folder for ``name``: itself when it exists, else the Hub snapshot of ``ORG/NAME[@REV]``.

    A path that does not exist and is not Hub-shaped is returned unchanged, so the loader reports
    it as a missing folder. Raises :class:`HubError` (one line) when a Hub id cannot be resolved.
    """
    p = Path(name)
    if p.exists() or isinstance(name, Path):
        if revision is not None and not p.exists():
            raise HubError(f"{name}: revision= applies to Hub ids (ORG/NAME), not to folders")
        return p
    parsed = parse_hub_id(str(name))
    if parsed is None:
        return p
    repo, rev = parsed
    if rev and revision and rev != revision:
        raise HubError(f"{name}: two revisions given ({rev!r} in the id and revision={revision!r}); give one")
    revision = revision or rev
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import (
            GatedRepoError,
            HfHubHTTPError,
            LocalEntryNotFoundError,
            OfflineModeIsEnabled,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )
    except ImportError:
        raise HubError(f"{name}: no such folder; as a Hugging Face Hub id it needs huggingface_hub: "
                       "pip install \"uare[hub]\"") from None
    shown = f"{repo}@{revision}" if revision else repo
    try:
        folder = snapshot_download(repo_id=repo, revision=revision, allow_patterns=ALLOW_PATTERNS)
    except (LocalEntryNotFoundError, OfflineModeIsEnabled):
        raise HubError(
            f"{name}: no such folder, and the Hub model {shown} is not in the local cache ({_cache_dir()}) while "
            "offline; download it once with network access (`hf download " + repo
            + (f" --revision {revision}" if revision else "") + "`) or pass a local folder") from None
    except RevisionNotFoundError:
        raise HubError(f"{shown}: the Hub repository has no revision {revision!r}; check the branch, tag or "
                       "commit") from None
    except GatedRepoError:
        raise HubError(f"{shown}: gated on the Hub; accept its terms on huggingface.co and log in "
                       "(`hf auth login`)") from None
    except RepositoryNotFoundError:
        raise HubError(f"{name}: no such folder, and no Hub repository {repo} (or it is private: log in with "
                       "`hf auth login`)") from None
    except HfHubHTTPError as e:
        raise HubError(f"{shown}: the Hub answered {' '.join(str(e).split())[:200]}") from None
    except OSError as e:
        raise HubError(f"{shown}: cannot fetch from the Hub ({e.__class__.__name__}: "
                       f"{' '.join(str(e).split())[:160]}); set HF_HUB_OFFLINE=1 to use the cache only") from None
    return Path(folder)


def _cache_dir() -> str:
    try:
        from huggingface_hub import constants

        return str(constants.HF_HUB_CACHE)
    except (ImportError, AttributeError):
        return "~/.cache/huggingface/hub"
