"""The data exchange's HTTP edge: one POST of a signed batch, its status and the first 64 KiB of the answer
(application.exchange.Receiver). Never raises for the receiver's failure: a refused connection, a timeout
or a dropped connection is a `Reply` without a status and with the error in words."""
from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass

from application.exchange import Reply

MAX_ANSWER_BYTES = 65536


@dataclass
class HttpReceiver:
    url: str
    timeout_s: float = 30.0

    def post(self, body: bytes, headers: Mapping[str, str]) -> Reply:
        started = time.perf_counter()
        request = urllib.request.Request(self.url, data=body, method="POST", headers=dict(headers))
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310 - http(s) only
                answer = response.read(MAX_ANSWER_BYTES)
                return Reply(response.status, answer, None, _ms(started))
        except urllib.error.HTTPError as exc:
            return Reply(exc.code, b"", f"HTTP {exc.code} {exc.reason}", _ms(started))
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            return Reply(None, b"", f"{type(exc).__name__}: {reason}", _ms(started))


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
