"""Join tokens: signed JWTs carrying session, identity, name, role and permissions."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Optional

import jwt

from media.permissions import Permissions, Role

ISSUER = "aula"
ALGORITHM = "HS256"
# Organisation-wide roles have no session.
OPS_ROLE = "ops"


class TokenError(Exception):
    """A token that cannot be used; `code` is the signaling/REST error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class JoinGrant:
    session_id: str
    identity: str
    name: str
    role: Role
    permissions: Permissions
    expires_at: int


@dataclass(frozen=True)
class OpsGrant:
    identity: str
    name: str
    expires_at: int


class TokenIssuer:
    def __init__(self, secret: str, ttl_s: int) -> None:
        self._secret = secret
        self._ttl_s = ttl_s

    def issue_join(
        self,
        session_id: str,
        identity: str,
        name: str,
        role: Role,
        permissions: Permissions,
        ttl_s: Optional[int] = None,
    ) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": identity,
            "name": name,
            "sid": session_id,
            "role": role.value,
            "perms": permissions.to_dict(),
            "iat": now,
            "exp": now + (ttl_s if ttl_s is not None else self._ttl_s),
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def issue_ops(self, identity: str, name: str) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER, "sub": identity, "name": name, "role": OPS_ROLE,
            "iat": now, "exp": now + self._ttl_s,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def _decode(self, token: str) -> dict[str, Any]:
        try:
            return jwt.decode(
                token, self._secret, algorithms=[ALGORITHM], issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "role"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("token_expired", "the token has expired") from exc
        except jwt.PyJWTError as exc:
            raise TokenError("token_invalid", f"the token is not valid: {exc}") from exc

    def verify_join(self, token: str) -> JoinGrant:
        claims = self._decode(token)
        try:
            role = Role(claims["role"])
            return JoinGrant(
                session_id=str(claims["sid"]),
                identity=str(claims["sub"]),
                name=str(claims.get("name") or claims["sub"]),
                role=role,
                permissions=Permissions.from_dict(claims.get("perms", {})),
                expires_at=int(claims["exp"]),
            )
        # Claims of the wrong shape (perms not an object...): signed, but not by our issuer's code.
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise TokenError("token_invalid", "the token is not a join token") from exc

    def verify_ops(self, token: str) -> OpsGrant:
        claims = self._decode(token)
        if claims.get("role") != OPS_ROLE:
            raise TokenError("forbidden", "an operations token is required")
        return OpsGrant(str(claims["sub"]), str(claims.get("name", "")), int(claims["exp"]))
