"""One deployment's alerting in one file: rules, routing, channels and the public address.

``alerting.yaml`` (its path in ``FARMWATCH_ALERTING__CONFIG``)::

    public_url: https://farmwatch.htx-camgiang.vn   # where acknowledgement links point
    rules:                                          # see rules.py; profile limits by default
      profile_defaults: true
      rules:
        - {name: NodeOffline, kind: absence, after: 20m, severity: warning}
    routing:                                        # see routing_config.py (Alertmanager-like)
      receivers:
        - name: farmer-pond-01
          contacts: [{channel: zalo, to: "0912345678"}, {channel: sms, to: "0912345678"}]
          escalate_to: coop-technician
          escalate_after: 15m
      route: {receiver: farmer-pond-01, group_by: [farm, node, alertname], group_wait: 0s}
    channels:                                       # see channels/config.py
      - {name: zalo, type: zalo, access_token: "...", template_id: "231456"}

Without a file (the embedded ``farmwatch up``), alerts go to each farm's MQTT
``farms/{farm}/alerts`` topic and the built-in page, with the profiles' default rules. Every
section is checked at start-up; the error names the file, the section and the place.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from farmwatch_core.mqtt_settings import MqttSettings

from farmwatch_alerting.channels.config import ChannelsConfig
from farmwatch_alerting.routing_config import AlertingConfigError, RoutingConfig
from farmwatch_alerting.rules import RulesError, RuleSet, rules_from_mapping

__all__ = ["AlertingConfig", "AlertingConfigError", "default_config", "load_alerting_config"]

_SECTIONS = {"public_url", "rules", "routing", "channels"}


@dataclass(frozen=True, slots=True)
class AlertingConfig:
    rules: RuleSet
    routing: RoutingConfig
    channels: ChannelsConfig
    public_url: str | None = None


def default_config(mqtt: MqttSettings) -> AlertingConfig:
    """No file: the profiles' rules and analytics' findings, published on the farms' MQTT topic."""
    routing = RoutingConfig.from_mapping(
        {
            "receivers": [{"name": "farm-topic", "contacts": [{"channel": "mqtt", "to": "farm"}]}],
            "route": {
                "receiver": "farm-topic",
                "group_by": ["farm", "node", "alertname"],
                "group_wait": "0s",
                "group_interval": "5m",
                "repeat_interval": "4h",
            },
        }
    )
    channels = ChannelsConfig.model_validate(
        {"channels": [{"name": "mqtt", "type": "mqtt", **mqtt.model_dump()}]}
    )
    rules = rules_from_mapping({"rules": [{"name": "Analytics", "kind": "candidate"}]})
    return AlertingConfig(rules, routing, channels)


def load_alerting_config(path: Path, mqtt: MqttSettings) -> AlertingConfig:
    """Read and check ``alerting.yaml``; raise AlertingConfigError naming every problem."""
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise AlertingConfigError(f"{path}: cannot read the alerting config: {exc}") from None
    except yaml.YAMLError as exc:
        raise AlertingConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise AlertingConfigError(f"{path}: expected sections {sorted(_SECTIONS)}")
    unknown = sorted(set(raw) - _SECTIONS)
    if unknown:
        raise AlertingConfigError(f"{path}: unknown sections {unknown}; known: {sorted(_SECTIONS)}")
    default = default_config(mqtt)
    try:
        rules = (
            rules_from_mapping(raw["rules"], f"{path}: rules") if "rules" in raw else default.rules
        )
    except RulesError as exc:
        raise AlertingConfigError(str(exc)) from None
    routing = (
        RoutingConfig.from_mapping(raw["routing"], where="routing")
        if "routing" in raw
        else default.routing
    )
    channels = default.channels
    if "channels" in raw:
        try:
            channels = ChannelsConfig.model_validate({"channels": raw["channels"]})
        except ValueError as exc:
            raise AlertingConfigError(f"{path}: channels: {exc}") from None
    known = {channel.name for channel in channels.channels}
    missing = sorted(
        {
            f"{receiver.name} → {contact.channel}"
            for receiver in routing.receivers
            for contact in receiver.contacts
            if contact.channel not in known
        }
    )
    if missing:
        raise AlertingConfigError(
            f"{path}: receivers use channels that are not configured: {missing}; "
            f"configured: {sorted(known)}"
        )
    public_url = raw.get("public_url")
    return AlertingConfig(rules, routing, channels, str(public_url) if public_url else None)
