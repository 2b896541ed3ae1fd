"""Traceability: signed per-lot records, their printable page with a QR code, and their routes.

See docs/traceability.md for the record format, the signature and how a buyer checks a lot.
"""
