"""A lean SigV4 signer for the load generator.

botocore's SigV4Auth costs a few hundred microseconds of CPU per request (AWSRequest, header dicts, URL
parsing). On a two-core machine the generator shares the CPU with the servers it measures, so it signs with
this: the same algorithm, the signing key derived once per day, for the simple requests the bench sends
(an absolute path without dot segments, no query string). tests/bench/test_signing.py checks that it produces
byte-identical signatures to botocore's and that agent_runtime.sigv4.SigV4Verifier accepts them.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

ALGORITHM = "AWS4-HMAC-SHA256"


class Signer:
    """Signs requests for one credential, service and region."""

    def __init__(self, access_key_id: str, secret_access_key: str, service: str, region: str) -> None:
        self.access_key_id = access_key_id
        self._secret = secret_access_key
        self.service = service
        self.region = region
        self._keys: dict[str, bytes] = {}

    def _signing_key(self, date_stamp: str) -> bytes:
        key = self._keys.get(date_stamp)
        if key is None:
            key = ("AWS4" + self._secret).encode()
            for part in (date_stamp, self.region, self.service, "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            self._keys = {date_stamp: key}
        return key

    def sign(
        self,
        method: str,
        host: str,
        path: str,
        body: bytes,
        headers: Mapping[str, str] | None = None,
        *,
        now: float | None = None,
    ) -> dict[str, str]:
        """The headers to send: `headers`, plus Host, X-Amz-Date and Authorization; every one of them is signed."""
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
        date_stamp = amz_date[:8]
        signed = {name.lower(): " ".join(value.split()) for name, value in (headers or {}).items()}
        signed["host"] = host
        signed["x-amz-date"] = amz_date
        names = sorted(signed)
        canonical = "\n".join(
            (
                method,
                path,
                "",
                "".join(f"{name}:{signed[name]}\n" for name in names),
                ";".join(names),
                hashlib.sha256(body).hexdigest(),
            )
        )
        scope = f"{date_stamp}/{self.region}/{self.service}/aws4_request"
        to_sign = f"{ALGORITHM}\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        signature = hmac.new(self._signing_key(date_stamp), to_sign.encode(), hashlib.sha256).hexdigest()
        out = dict(headers or {})
        out["Host"] = host
        out["X-Amz-Date"] = amz_date
        out["Authorization"] = (
            f"{ALGORITHM} Credential={self.access_key_id}/{scope}, SignedHeaders={';'.join(names)}, "
            f"Signature={signature}"
        )
        return out
