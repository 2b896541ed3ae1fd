"""farmwatch edge agent for Raspberry-Pi-class sensor nodes.

Installs with only farmwatch-core (pydantic, PyYAML, paho-mqtt) and msgspec: no numpy,
scikit-learn or FastAPI, so it fits a Pi Zero 2 W. The agent itself validates with msgspec and
never imports pydantic (docs/edge.md, "Benchmark and memory").
"""
