"""Fixtures of casepush-servicenow's tests: the plugin, an RSA key for OAuth, and a fake ServiceNow."""

import sys
from collections.abc import Callable
from pathlib import Path

import casepush_servicenow
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from casepush.testing import FakeService

sys.path.insert(0, str(Path(__file__).parent))
from fake_servicenow import FakeServiceNow


@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def casepush_plugins() -> list[object]:
    return [casepush_servicenow]


@pytest.fixture
async def sn(fake_service: Callable[[], FakeService], private_key: rsa.RSAPrivateKey) -> FakeServiceNow:
    fake = FakeServiceNow(fake_service(), private_key.public_key())
    await fake.service.start()
    return fake
