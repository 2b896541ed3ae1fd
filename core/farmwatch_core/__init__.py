"""farmwatch core: the one wire contract, the deployment registry and settings.

This is the lightest package of farmwatch: edge agents on a Raspberry Pi, ingest and the
simulators all import it, and it imports nothing else of farmwatch.
"""

__version__ = "0.1.0"
