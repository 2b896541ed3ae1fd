"""farmwatch alerting: from analytics' findings and live telemetry to one message on a phone."""
