"""One torch thread for the forecast tests: on a shared 2-core machine two threads wait on each
other and small ops run 10-50x slower; results do not depend on the thread count."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
