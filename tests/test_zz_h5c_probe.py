import pytest
from tests.conftest import Api

@pytest.mark.parametrize("n", range(6))
async def test_probe(api: Api, n: int) -> None:
    assert (await api.data("{ units { code } }"))["units"]
