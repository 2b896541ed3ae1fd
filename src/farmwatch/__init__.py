"""farmwatch: IoT smart-farming telemetry and alerting. The ``farmwatch`` command lives here."""

__version__ = "0.1.0"
