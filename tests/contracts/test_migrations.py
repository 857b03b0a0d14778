"""Every migration chain is one line: unique revision ids, each file a revision, one head.

Two branches that each add "the next" revision (the same id, or the same parent) merge without a textual conflict
when their files are named differently; Alembic then keeps one of the twins silently or refuses to upgrade to "head".
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from svd.db.migrate import ENV_DIR

REPO = Path(__file__).resolve().parents[2]
CHAINS = sorted(
    [*REPO.glob("services/*/*/migrations/versions"), *REPO.glob("libs/svd/*/migrations/versions")],
    key=str,
)


def test_every_service_has_its_chain() -> None:
    owners = {path.parts[-4] for path in CHAINS}
    assert {"billing", "dispatcher", "media-store", "video-gateway", "svd"} <= owners, owners


@pytest.mark.parametrize("versions", CHAINS, ids=lambda path: str(path.relative_to(REPO)))
def test_the_chain_is_linear_with_one_head(versions: Path) -> None:
    config = Config()
    config.set_main_option("script_location", str(ENV_DIR))
    config.set_main_option("version_locations", str(versions))
    config.set_main_option("path_separator", "os")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scripts = ScriptDirectory.from_config(config)
        revisions = list(scripts.walk_revisions())
    twins = [str(w.message) for w in caught if "more than once" in str(w.message)]  # Alembic only warns of twins
    assert not twins, twins
    files = [path for path in versions.glob("*.py") if path.name != "__init__.py"]
    assert len(revisions) == len(files), "two files declare the same revision id"
    assert len(scripts.get_heads()) == 1, f"more than one head: {scripts.get_heads()}"
    bases = [r.revision for r in revisions if r.down_revision is None]
    assert len(bases) == 1, f"more than one base: {bases}"
