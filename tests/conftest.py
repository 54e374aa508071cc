import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def digits_task_factory():
    """Build classification tasks on the shipped digits model without re-reading the data each time."""
    from unlearn_core.zoo import get_model_spec

    spec = get_model_spec("digits-cnn")
    return lambda forget="class:3", seed=0: spec.make_task(spec.parse_forget(forget), seed)


@pytest.fixture(scope="module")
def page():
    """A headless browser on the shared app, its Lab rendered (``tests/browser_kit.py``), one per test module."""
    from browser_kit import open_page  # chromium is only driven where a browser test asks for it

    yield from open_page()
