"""farmwatch simulators: model farms of Hải Dương that publish realistic telemetry over MQTT."""
