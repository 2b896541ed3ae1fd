from __future__ import annotations

from pathlib import Path

import pytest
from farmwatch_core.registry import ModelType, RegistryError, load_registry, parse_registry

GOOD = """
cooperatives:
  - id: htx-thanh-ha
    name: HTX Nông nghiệp Thanh Hà
farms:
  - id: pond-01
    name: Ao cá ông Sơn
    cooperative: htx-thanh-ha
    model: aquaculture_pond
    location: {lat: 20.9, lon: 106.43}
    contacts: [son]
    nodes:
      - id: pond-01-water
        profile: pond_water
        sensors: [water_temperature, dissolved_oxygen, ph]
contacts:
  - id: son
    name: Nguyễn Văn Sơn
    phone: "+84912345678"
"""


def test_valid_registry_and_lookups() -> None:
    deployment = parse_registry(GOOD)
    farm = deployment.farm("pond-01")
    assert farm is not None
    assert farm.model is ModelType.AQUACULTURE_POND
    assert deployment.node("pond-01", "pond-01-water") is not None
    assert deployment.node("pond-01", "nope") is None
    assert deployment.contacts[0].language == "vi"
    again = parse_registry(deployment.to_yaml())
    assert again == deployment


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("sensors: [water_temperature, dissolved_oxygen, ph]", "sensors: [do2]"),
            "farms[0].nodes[0].sensors: unknown quantity 'do2'",
        ),
        (("model: aquaculture_pond", "model: rocket"), "farms[0].model: Input should be"),
        (("cooperative: htx-thanh-ha", "cooperative: htx-x"), "unknown cooperative 'htx-x'"),
        (("contacts: [son]", "contacts: [bao]"), "unknown contact 'bao'"),
        (("lat: 20.9", "lat: 200"), "farms[0].location.lat"),
        (("- id: pond-01-water", "- id: pond/01"), "farms[0].nodes[0].id: node ID 'pond/01'"),
        (('phone: "+84912345678"', "phone: call me"), "contacts[0].phone"),
        (
            ("profile: pond_water", "profile: pond_water\n        colour: red"),
            "colour: Extra inputs",
        ),
    ],
)
def test_invalid_registry_names_the_place(change: tuple[str, str], expected: str) -> None:
    text = GOOD.replace(*change)
    assert text != GOOD
    with pytest.raises(RegistryError) as info:
        parse_registry(text, "reg.yaml")
    assert expected in str(info.value)
    assert str(info.value).startswith("reg.yaml: ")


def test_duplicates_are_reported() -> None:
    text = GOOD.replace(
        "contacts:\n  - id: son", "contacts:\n  - id: son\n    name: A\n  - id: son"
    )
    with pytest.raises(RegistryError, match="contact ID 'son' appears twice"):
        parse_registry(text)
    nodes = GOOD.replace(
        "        sensors: [water_temperature, dissolved_oxygen, ph]",
        "        sensors: [ph]\n      - id: pond-01-water",
    )
    with pytest.raises(RegistryError, match="appears twice in farm 'pond-01'"):
        parse_registry(nodes)


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="does not exist"):
        load_registry(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("farms: [\n")
    with pytest.raises(RegistryError, match="not valid YAML"):
        load_registry(bad)
    bad.write_text("- a\n- b\n")
    with pytest.raises(RegistryError, match="top level must be a mapping"):
        load_registry(bad)
