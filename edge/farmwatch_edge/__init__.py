"""farmwatch edge agent for Raspberry-Pi-class sensor nodes.

Installs with only farmwatch-core (pydantic, PyYAML, paho-mqtt): no numpy, scikit-learn or
FastAPI, so it fits a Pi Zero 2 W.
"""
