"""AIP-158 pagination: page_size defaults/clamping and opaque, tamper-evident page tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from tuneforge.runtime.errors import invalid_argument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
_KEY = b"tuneforge-page-token-v1"


def page_size(value: int, default: int = DEFAULT_PAGE_SIZE, maximum: int = MAX_PAGE_SIZE) -> int:
    """0 → default, over the maximum → clamped, negative → INVALID_ARGUMENT."""
    if value < 0:
        raise invalid_argument("page_size", "must not be negative", reason="INVALID_PAGE_SIZE")
    if value == 0:
        return default
    return min(value, maximum)


def encode_token(offset: int, scope: str) -> str:
    body = json.dumps({"o": offset, "s": scope}, separators=(",", ":")).encode()
    mac = hmac.new(_KEY, body, hashlib.sha256).digest()[:8]
    return base64.urlsafe_b64encode(mac + body).decode().rstrip("=")


def decode_token(token: str, scope: str) -> int:
    """The offset inside ``token``; empty → 0; anything forged or foreign → INVALID_ARGUMENT."""
    if not token:
        return 0
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        mac, body = raw[:8], raw[8:]
        if not hmac.compare_digest(mac, hmac.new(_KEY, body, hashlib.sha256).digest()[:8]):
            raise ValueError("bad mac")
        data = json.loads(body)
        if data.get("s") != scope or not isinstance(data.get("o"), int) or data["o"] < 0:
            raise ValueError("wrong scope")
        return int(data["o"])
    except (ValueError, TypeError, json.JSONDecodeError):
        raise invalid_argument(
            "page_token", "not a page token issued by this list", reason="INVALID_PAGE_TOKEN"
        ) from None


def page(request_size: int, request_token: str, scope: str) -> tuple[int, int]:
    """(offset, limit) for a list request."""
    return decode_token(request_token, scope), page_size(request_size)


def next_token(offset: int, limit: int, returned: int, total: int | None, scope: str) -> str:
    end = offset + returned
    if returned < limit or (total is not None and end >= total):
        return ""
    return encode_token(end, scope)
