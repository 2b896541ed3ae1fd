"""Open data exchange (docs/opendata.md): farmwatch's farms, nodes and readings as NGSI-LD
entities of the FIWARE Smart Data Models and as SenML, for provincial and national platforms.

* :mod:`~farmwatch.opendata.ngsi`: the mappings (pure, doctested);
* :mod:`~farmwatch.opendata.validate`: validation against the vendored schemas (``schemas/``);
* :mod:`~farmwatch.opendata.export`: ``farmwatch opendata export``, streamed to files;
* :mod:`~farmwatch.opendata.partner_api`: the versioned read API for partner systems;
* :mod:`~farmwatch.opendata.push`: ``farmwatch opendata push`` to an NGSI-LD context broker.
"""
