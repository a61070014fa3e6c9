"""Parley's server-side token helpers.

Sign the short-lived tokens an app gives its users for Parley meetings and the room service, as
docs/protocol.md ("Apps: API keys and tokens with grants") describes them: HS256 JWTs signed with
the API key's secret, ``iss`` set to the key. Standard library only. This runs on the app's
server: the secret must never reach a browser.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal, Optional, TypedDict, Union

__all__ = [
    "AccessToken",
    "Claims",
    "Grants",
    "Instant",
    "TrackSource",
    "mint_token",
    "verify_token",
]
__version__ = "1.0.0"

DEFAULT_TTL = 3600

TrackSource = Literal["microphone", "camera", "screen_share", "screen_share_audio"]
TRACK_SOURCES = ("microphone", "camera", "screen_share", "screen_share_audio")

# A time as seconds since the Unix epoch, or a timezone-aware datetime.
Instant = Union[datetime, int]

# What each grant the server knows holds (`Grants` in proto/src/auth.rs). The server refuses a
# token that carries any other name, so these helpers refuse one before signing it.
_GRANT_KINDS: dict[str, type] = {
    "room": str,
    "room_join": bool,
    "room_create": bool,
    "room_list": bool,
    "room_admin": bool,
    "can_publish": bool,
    "can_subscribe": bool,
    "can_publish_sources": list,
    "hidden": bool,
    "recorder": bool,
}


class Grants(TypedDict, total=False):
    """What the token lets its holder do. Anything not granted is denied."""

    room: str
    room_join: bool
    room_create: bool
    room_list: bool
    room_admin: bool
    can_publish: bool
    can_subscribe: bool
    can_publish_sources: list[TrackSource]
    hidden: bool
    recorder: bool


class _RequiredClaims(TypedDict):
    iss: str
    sub: str
    exp: int


class Claims(_RequiredClaims, total=False):
    """A token's claims, as ``verify_token`` returns them."""

    name: str
    nbf: int
    grants: Grants


def _shown(value: object) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return (
        repr(value)
        if value is None or isinstance(value, (bool, int, float))
        else type(value).__name__
    )


def _require_text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, not {_shown(value)}")
    if value == "":
        raise ValueError(f"{what} must not be empty")
    return value


def _epoch_seconds(value: object, what: str) -> int:
    """Seconds since the Unix epoch, as ``exp`` and ``nbf`` hold them."""
    if isinstance(value, datetime):
        # A naive datetime would be read as local time: hours off on a server in UTC+8.
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"{what} must be a timezone-aware datetime, such as datetime.now(timezone.utc)"
            )
        secs = math.floor(value.timestamp())
    elif isinstance(value, int) and not isinstance(value, bool):
        # bool is an int to Python, but True is a mistake, not a time.
        secs = value
    else:
        raise TypeError(
            f"{what} must be a datetime or whole seconds since the Unix epoch, not {_shown(value)}"
        )
    # The server reads `exp` and `nbf` as unsigned numbers.
    if secs < 0:
        raise ValueError(f"{what} must not be before 1970")
    return secs


def _check_grants(grants: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``grants`` once every name and value is one the server takes."""
    if not isinstance(grants, Mapping):
        raise TypeError(
            "grants must be a mapping such as"
            f' {{"room": "standup", "room_join": True}}, not {_shown(grants)}'
        )
    checked: dict[str, Any] = {}
    for name, value in grants.items():
        kind = _GRANT_KINDS.get(name)
        if kind is None:
            raise ValueError(
                f"unknown grant `{name}`: the server refuses a token with it"
                f" (grants: {', '.join(_GRANT_KINDS)})"
            )
        if kind is list:
            if not isinstance(value, (list, tuple)):
                raise TypeError(f"grant `{name}` must be a list of sources, not {_shown(value)}")
            for source in value:
                if source not in TRACK_SOURCES:
                    raise ValueError(
                        f"unknown source {_shown(source)} in `{name}`"
                        f" (sources: {', '.join(TRACK_SOURCES)})"
                    )
            checked[name] = list(value)
        else:
            if type(value) is not kind:
                raise TypeError(f"grant `{name}` must be a {kind.__name__}, not {_shown(value)}")
            checked[name] = value
    return checked


def _check_combination(grants: Mapping[str, Any]) -> None:
    """Refuse what the server would let in nowhere (``insufficient_grant`` at ``join``)."""
    if grants.get("room_join") and not grants.get("room"):
        raise ValueError("grant `room_join` needs `room`: a token that joins names its room")
    if grants.get("hidden") and not grants.get("recorder"):
        raise ValueError("grant `hidden` needs `recorder`: only recorders join hidden")


def _base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _mac(signed: str, secret: str) -> str:
    return _base64url(
        hmac.new(secret.encode("utf-8"), signed.encode("ascii"), hashlib.sha256).digest()
    )


class AccessToken:
    """A token with the claims and grants of an app's user, signed on demand with ``to_jwt()``.

    ``ttl`` is seconds from ``to_jwt()`` until the token expires (3600 when neither it nor
    ``expires_at`` is given). ``expires_at`` gives the expiry instead, as a timezone-aware datetime
    or seconds since the Unix epoch; it may be in the past, to test refusals. ``not_before`` sets
    ``nbf`` the same way. Raises ValueError (TypeError for a value of the wrong type) for anything
    the server would refuse.
    """

    def __init__(
        self,
        api_key: str,
        api_secret: str,
        *,
        identity: str,
        name: Optional[str] = None,
        ttl: Optional[int] = None,
        expires_at: Optional[Instant] = None,
        not_before: Optional[Instant] = None,
    ) -> None:
        self._api_key = _require_text(api_key, "api_key")
        self._api_secret = _require_text(api_secret, "api_secret")
        if not isinstance(identity, str):
            raise TypeError(f"identity must be a string, not {_shown(identity)}")
        # The server refuses a token whose identity is blank, spaces included.
        if identity.strip() == "":
            raise ValueError("identity must not be empty")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a string, not {_shown(name)}")
        if ttl is not None and expires_at is not None:
            raise ValueError("give ttl or expires_at, not both")
        if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int) or ttl <= 0):
            raise ValueError(
                f"ttl must be a whole number of seconds greater than 0, not {_shown(ttl)}"
            )
        self._identity = identity
        self._name = name or ""
        self._ttl = DEFAULT_TTL if ttl is None else ttl
        self._expires_at = None if expires_at is None else _epoch_seconds(expires_at, "expires_at")
        self._not_before = None if not_before is None else _epoch_seconds(not_before, "not_before")
        self._grants: dict[str, Any] = {}

    def __repr__(self) -> str:
        # Never the secret: tokens end up in logs.
        return (
            f"AccessToken(api_key={self._api_key!r}, identity={self._identity!r},"
            f" grants={self._grants!r})"
        )

    def add_grant(self, **grants: Any) -> AccessToken:
        """Add grants to those given before (a name given again takes the new value).

        Returns the token, so that calls chain.
        """
        self._grants.update(_check_grants(grants))
        return self

    def to_jwt(self) -> str:
        """The signed token. ``ttl`` counts from now."""
        _check_combination(self._grants)
        claims: dict[str, Any] = {"iss": self._api_key, "sub": self._identity}
        # The server reads a missing `name` as empty, so an empty one is left out.
        if self._name:
            claims["name"] = self._name
        claims["exp"] = (
            self._expires_at if self._expires_at is not None else int(time.time()) + self._ttl
        )
        if self._not_before is not None:
            claims["nbf"] = self._not_before
        claims["grants"] = dict(self._grants)
        signed = _base64url(_json({"alg": "HS256", "typ": "JWT"})) + "." + _base64url(_json(claims))
        return signed + "." + _mac(signed, self._api_secret)


def mint_token(
    *,
    api_key: str,
    api_secret: str,
    identity: str,
    name: Optional[str] = None,
    ttl: Optional[int] = None,
    expires_at: Optional[Instant] = None,
    not_before: Optional[Instant] = None,
    grants: Optional[Mapping[str, Any]] = None,
) -> str:
    """A signed token in one call: ``AccessToken(...).add_grant(**grants).to_jwt()``."""
    token = AccessToken(
        api_key,
        api_secret,
        identity=identity,
        name=name,
        ttl=ttl,
        expires_at=expires_at,
        not_before=not_before,
    )
    if grants is not None:
        # Checked before `**`, which would refuse a key that is not a string less helpfully.
        token.add_grant(**_check_grants(grants))
    return token.to_jwt()


def _decode_part(part: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except ValueError:  # binascii.Error, UnicodeDecodeError and JSONDecodeError are ValueErrors
        value = None
    if not isinstance(value, dict):
        raise ValueError(f"not a JWT: its {what} is not a base64url JSON object")
    return value


def _utc(secs: int) -> str:
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(secs))
    except (OverflowError, OSError, ValueError):
        # Past what the C library can show; such a token may still reach this message.
        return f"{secs} seconds since the Unix epoch"


def verify_token(jwt: str, api_secret: str) -> Claims:
    """The claims of ``jwt`` once it checks out as the server would check it, the API key aside.

    HS256, signed with ``api_secret``, not expired, past its ``nbf``, with an identity, and only
    grants the server knows. Raises ValueError saying what is wrong otherwise.
    """
    _require_text(jwt, "jwt")
    _require_text(api_secret, "api_secret")
    parts = jwt.split(".")
    if len(parts) != 3:
        raise ValueError(f"not a JWT: it has {len(parts)} dot-separated parts, not 3")
    head, body, signature = parts
    header = _decode_part(head, "header")
    if header.get("alg") != "HS256":
        raise ValueError(f"token must be signed with HS256, not {_shown(header.get('alg'))}")
    if not hmac.compare_digest(
        signature.encode("utf-8"), _mac(f"{head}.{body}", api_secret).encode("ascii")
    ):
        raise ValueError("token signature does not verify with this secret")
    claims = _decode_part(body, "payload")
    if not isinstance(claims.get("iss"), str) or claims["iss"] == "":
        raise ValueError("token lacks the `iss` claim (the API key)")
    if not isinstance(claims.get("sub"), str) or claims["sub"].strip() == "":
        raise ValueError("token has an empty identity (sub)")
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int):
        raise ValueError("token lacks the `exp` claim in whole seconds")
    now = int(time.time())
    if now >= exp:
        raise ValueError(f"token has expired (at {_utc(exp)})")
    if "nbf" in claims:
        nbf = claims["nbf"]
        if isinstance(nbf, bool) or not isinstance(nbf, int):
            raise ValueError("token's `nbf` claim is not whole seconds")
        if now < nbf:
            raise ValueError(f"token is not valid yet (nbf {_utc(nbf)})")
    try:
        _check_grants(claims.get("grants", {}))
    except TypeError as err:
        raise ValueError(str(err)) from None
    return claims  # type: ignore[return-value]
