"""Agronomic indicators: pure functions of weather and water readings.

Every formula cites its source next to it; ``/work/shared/reference/agronomy.md`` is the
project's digest of those sources (section numbers in the docstrings). The functions take
plain floats in the contract's canonical units, so they serve the streaming analytics, the
reports and the simulators alike.
"""
