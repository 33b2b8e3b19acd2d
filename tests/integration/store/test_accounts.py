"""Accounts and gateway tokens: password hashing, staff tokens with expiry, roles, scoping.

Hashes use a cheap scrypt cost (``CHEAP``) except where the production default is the point."""

from __future__ import annotations

import base64
import contextlib
import hashlib

import pytest

from siaga.api.accounts import Accounts, Role, Staff
from siaga.api.db import Database
from siaga.api.errors import Conflict, InvalidInput, NotFound, TooManyRequests, Unauthorized
from siaga.api.gateway_tokens import GatewayTokens
from siaga.api.hashing import ScryptCost, hash_password, verify_password
from siaga.api.settings import AuthSettings

pytestmark = pytest.mark.integration

AGENCIES = ("BPBD", "PMK", "SATPOLPP", "DISKOMINFO")
PASSWORD = "kata-sandi-rahasia"
CHEAP = ScryptCost(n=2**4, r=1, p=1)


class Clock:
    def __init__(self) -> None:
        self.now = 1_795_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def db(hub_db: Database) -> Database:
    """The hub database, once on SQLite and once on PostgreSQL (tests/database_fixtures.py)."""
    return hub_db


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def accounts(db: Database, clock: Clock) -> Accounts:
    return Accounts(db, AuthSettings(token_ttl_s=600, see_all_agencies=["DISKOMINFO"]),
                    AGENCIES, clock=clock, cost=CHEAP)


@pytest.fixture
def tokens(db: Database, clock: Clock) -> GatewayTokens:
    return GatewayTokens(db, clock)


def test_production_scrypt_cost_is_the_default() -> None:
    encoded = hash_password(PASSWORD)
    assert encoded.startswith("scrypt$16384$8$1$")
    assert verify_password(PASSWORD, encoded)


def test_scrypt_hash_verifies_and_is_salted() -> None:
    a, b = hash_password(PASSWORD, CHEAP), hash_password(PASSWORD, CHEAP)
    assert a.startswith("scrypt$16$1$1$") and a != b
    assert verify_password(PASSWORD, a) and verify_password(PASSWORD, b)
    assert not verify_password(PASSWORD + "x", a)


@pytest.mark.anyio
async def test_accounts_hash_at_their_cost(accounts: Accounts, db: Database) -> None:
    await accounts.add_user("siti", "Siti", "BPBD", "responder", PASSWORD)
    stored = db.call(lambda c: c.execute("SELECT password_hash FROM staff").fetchone()[0])
    assert stored.startswith("scrypt$16$1$1$")


def test_pbkdf2_hashes_from_elsewhere_verify() -> None:
    salt = b"0123456789abcdef"
    dk = hashlib.pbkdf2_hmac("sha256", PASSWORD.encode(), salt, 1000)
    b64 = base64.b64encode
    encoded = f"pbkdf2_sha256$1000${b64(salt).decode()}${b64(dk).decode()}"
    assert verify_password(PASSWORD, encoded)
    assert not verify_password("wrong", encoded)


@pytest.mark.parametrize("encoded", ["", "plain", "scrypt$x$8$1$AA==$AA==", "md5$abc",
                                     "scrypt$16384$8$1$!!!$AA==", "pbkdf2_sha256$1$$"])
def test_malformed_hashes_never_match(encoded: str) -> None:
    assert not verify_password(PASSWORD, encoded)


def test_roles_rank() -> None:
    admin = Staff(username="a", name="A", agency="BPBD", role=Role.ADMIN)
    viewer = Staff(username="v", name="V", agency="BPBD", role=Role.VIEWER)
    assert admin.has_role(Role.RESPONDER) and admin.has_role(Role.VIEWER)
    assert viewer.has_role(Role.VIEWER) and not viewer.has_role(Role.RESPONDER)


def test_scope_own_agency_or_all(accounts: Accounts) -> None:
    responder = Staff(username="r", name="R", agency="PMK", role=Role.RESPONDER)
    admin = Staff(username="a", name="A", agency="PMK", role=Role.ADMIN)
    ops = Staff(username="o", name="O", agency="DISKOMINFO", role=Role.VIEWER)
    assert accounts.scope(responder) == frozenset({"PMK"})
    assert accounts.scope(admin) is None
    assert accounts.scope(ops) is None
    assert accounts.can_see(responder, ["BPBD", "PMK"])
    assert not accounts.can_see(responder, ["BPBD"])
    assert accounts.can_see(admin, ["BPBD"])


@pytest.mark.anyio
async def test_add_login_and_token_round_trip(accounts: Accounts) -> None:
    added = await accounts.add_user("siti", "Siti Rahma", "BPBD", "responder", PASSWORD)
    staff, issued = await accounts.login("siti", PASSWORD)
    assert staff == added
    assert issued.token.startswith("sgs_")
    assert await accounts.staff_for_token(issued.token) == added
    assert [s.username for s in await accounts.list_users()] == ["siti"]


@pytest.mark.anyio
async def test_bad_new_users_are_refused_with_the_reason(accounts: Accounts) -> None:
    with pytest.raises(InvalidInput, match="agency 'BASARNAS'"):
        await accounts.add_user("budi", "Budi", "BASARNAS", "viewer", PASSWORD)
    with pytest.raises(InvalidInput, match="at least 10"):
        await accounts.add_user("budi", "Budi", "BPBD", "viewer", "short")
    with pytest.raises(InvalidInput, match="username"):
        await accounts.add_user("Budi Santoso", "Budi", "BPBD", "viewer", PASSWORD)
    with pytest.raises(ValueError):
        await accounts.add_user("budi", "Budi", "BPBD", "chief", PASSWORD)
    await accounts.add_user("budi", "Budi", "BPBD", "viewer", PASSWORD)
    with pytest.raises(Conflict):
        await accounts.add_user("budi", "Budi 2", "PMK", "viewer", PASSWORD)


@pytest.mark.anyio
async def test_wrong_password_and_unknown_user_look_the_same(accounts: Accounts) -> None:
    await accounts.add_user("siti", "Siti", "BPBD", "responder", PASSWORD)
    with pytest.raises(Unauthorized) as wrong:
        await accounts.login("siti", "not-the-password")
    with pytest.raises(Unauthorized) as unknown:
        await accounts.login("nobody", PASSWORD)
    assert wrong.value.detail == unknown.value.detail
    assert wrong.value.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.anyio
async def test_token_expires_after_ttl(accounts: Accounts, clock: Clock) -> None:
    await accounts.add_user("siti", "Siti", "BPBD", "responder", PASSWORD)
    _, issued = await accounts.login("siti", PASSWORD)
    assert issued.expires_at == clock.now + 600
    clock.now += 599
    await accounts.staff_for_token(issued.token)
    clock.now += 1
    with pytest.raises(Unauthorized, match="expired"):
        await accounts.staff_for_token(issued.token)


@pytest.mark.anyio
async def test_revoked_and_unknown_tokens_fail(accounts: Accounts) -> None:
    await accounts.add_user("siti", "Siti", "BPBD", "responder", PASSWORD)
    _, issued = await accounts.login("siti", PASSWORD)
    await accounts.revoke_token(issued.token)
    with pytest.raises(Unauthorized, match="revoked"):
        await accounts.staff_for_token(issued.token)
    with pytest.raises(Unauthorized, match="not a staff token"):
        await accounts.staff_for_token("Bearer-nonsense")


@pytest.mark.anyio
async def test_new_password_ends_sessions(accounts: Accounts) -> None:
    await accounts.add_user("siti", "Siti", "BPBD", "responder", PASSWORD)
    _, issued = await accounts.login("siti", PASSWORD)
    await accounts.set_password("siti", "another-long-password")
    with pytest.raises(Unauthorized):
        await accounts.staff_for_token(issued.token)
    await accounts.login("siti", "another-long-password")
    with pytest.raises(NotFound):
        await accounts.set_password("nobody", "another-long-password")


@pytest.mark.anyio
async def test_gateway_token_is_replaced_by_a_new_one(tokens: GatewayTokens, db: Database) -> None:
    first = await tokens.issue("gw-bumiaji-01")
    assert await tokens.gateway_for_token(first) == "gw-bumiaji-01"
    second = await tokens.issue("gw-bumiaji-01")
    with pytest.raises(Unauthorized):
        await tokens.gateway_for_token(first)
    assert await tokens.gateway_for_token(second) == "gw-bumiaji-01"
    stored = db.call(lambda c: c.execute("SELECT token_hash FROM gateway_tokens").fetchall())
    assert [r[0] for r in stored] == [hashlib.sha256(second.encode()).hexdigest()]
    await tokens.revoke("gw-bumiaji-01")
    with pytest.raises(Unauthorized):
        await tokens.gateway_for_token(second)


@pytest.mark.anyio
async def test_staff_and_gateway_tokens_are_not_interchangeable(
        accounts: Accounts, tokens: GatewayTokens) -> None:
    await accounts.add_user("siti", "Siti", "BPBD", "admin", PASSWORD)
    _, issued = await accounts.login("siti", PASSWORD)
    gw = await tokens.issue("gw-1")
    with pytest.raises(Unauthorized):
        await tokens.gateway_for_token(issued.token)
    with pytest.raises(Unauthorized):
        await accounts.staff_for_token(gw)
    with pytest.raises(InvalidInput):
        await tokens.issue("gw/1")


OFFICE, STRANGER = "10.1.1.5", "203.0.113.9"


@pytest.mark.anyio
async def test_failed_logins_back_off_per_username(accounts: Accounts, clock: Clock) -> None:
    await accounts.add_user("siti", "Siti", "BPBD", "responder", PASSWORD)
    await accounts.add_user("budi", "Budi", "BPBD", "responder", PASSWORD)
    for _ in range(5):
        with pytest.raises(Unauthorized):
            await accounts.login("siti", "guess-guess", STRANGER)
    with pytest.raises(TooManyRequests) as err:
        await accounts.login("siti", "guess-guess", STRANGER)
    assert err.value.headers["Retry-After"] == "1"
    clock.now += 1
    with pytest.raises(Unauthorized):
        await accounts.login("siti", "guess-guess", STRANGER)
    # from an address siti never used, even the right password waits: 2 s after the 6th
    with pytest.raises(TooManyRequests) as err:
        await accounts.login("siti", PASSWORD, "198.51.100.7")
    assert err.value.status == 429 and err.value.headers["Retry-After"] == "2"
    await accounts.login("budi", PASSWORD, STRANGER)  # other users are not affected
    clock.now += 2
    await accounts.login("siti", PASSWORD, "198.51.100.7")


@pytest.mark.anyio
async def test_a_stranger_cannot_lock_a_user_out_of_a_known_address(
        accounts: Accounts, clock: Clock) -> None:
    """Issue 12 case 5: five wrong passwords used to lock the right one out for 5 minutes."""
    await accounts.add_user("siti", "Siti", "BPBD", "responder", PASSWORD)
    await accounts.login("siti", PASSWORD, OFFICE)
    for round_ in range(10):
        for i in range(20):
            with contextlib.suppress(Unauthorized, TooManyRequests):
                await accounts.login("siti", "guess-guess", f"203.0.{round_}.{i}")
        staff, _ = await accounts.login("siti", PASSWORD, OFFICE)
        assert staff.username == "siti"
        clock.now += 30


@pytest.mark.anyio
async def test_failed_logins_are_throttled_per_address_whatever_the_username(
        accounts: Accounts, clock: Clock) -> None:
    """Issue 12 case 2: random usernames used to bypass the per-username throttle."""
    await accounts.add_user("siti", "Siti", "BPBD", "responder", PASSWORD)
    for i in range(20):
        with pytest.raises(Unauthorized):
            await accounts.login(f"random-{i}", "guess-guess", STRANGER)
    with pytest.raises(TooManyRequests) as err:
        await accounts.login("random-99", "guess-guess", STRANGER)
    assert int(err.value.headers["Retry-After"]) == 300
    await accounts.login("siti", PASSWORD, OFFICE)  # other addresses are not affected
    clock.now += 301
    with pytest.raises(Unauthorized):
        await accounts.login("random-100", "guess-guess", STRANGER)


@pytest.mark.anyio
async def test_success_resets_the_failure_count(accounts: Accounts) -> None:
    await accounts.add_user("siti", "Siti", "BPBD", "responder", PASSWORD)
    for _ in range(3):
        for _ in range(4):
            with pytest.raises(Unauthorized):
                await accounts.login("siti", "guess-guess")
        await accounts.login("siti", PASSWORD)


@pytest.mark.anyio
async def test_removed_user_loses_sessions_and_login(accounts: Accounts) -> None:
    await accounts.add_user("siti", "Siti", "BPBD", "responder", PASSWORD)
    _, issued = await accounts.login("siti", PASSWORD)
    await accounts.remove_user("siti")
    with pytest.raises(Unauthorized):
        await accounts.staff_for_token(issued.token)
    with pytest.raises(Unauthorized):
        await accounts.login("siti", PASSWORD)
    with pytest.raises(NotFound):
        await accounts.remove_user("siti")
