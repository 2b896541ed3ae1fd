"""farmwatch dashboards: Grafana dashboards as code, and the built-in mobile page.

Grafana: the dashboards are built with grafana-foundation-sdk from the deployment registry
(names, cooperatives, coordinates) and the analytics model profiles (limits drawn as
thresholds); ``farmwatch dashboards generate`` writes them as JSON with Grafana provisioning
files, and ``farmwatch dashboards push`` uploads them to an existing Grafana. See
docs/dashboards.md.
"""
