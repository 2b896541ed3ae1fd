"""Telling a refused certificate apart from other connection errors.

Services that reach InfluxDB or Grafana over https answer a failed certificate check with
"set ca_file", not "is it running?": the two need different fixes. httpx, grafana-client
(requests) and http.client wrap ``ssl.SSLCertVerificationError`` differently, sometimes only
as text, so the whole chain is searched.
"""

from __future__ import annotations

import ssl

__all__ = ["certificate_refused"]


def certificate_refused(exc: BaseException) -> bool:
    """Whether an error is a failed certificate check, anywhere in its chain.

    >>> import ssl
    >>> inner = ssl.SSLCertVerificationError("self-signed certificate")
    >>> try:
    ...     try:
    ...         raise inner
    ...     except ssl.SSLError as exc:
    ...         raise ConnectionError("connect failed") from exc
    ... except ConnectionError as outer:
    ...     certificate_refused(outer), certificate_refused(ConnectionError("refused"))
    (True, False)
    """
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(exc) or "certificate verify failed" in str(exc)
