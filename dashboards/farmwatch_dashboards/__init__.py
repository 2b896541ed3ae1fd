"""farmwatch dashboards: Grafana dashboards as code and the built-in mobile page.

Built in the dashboards issue; the package exists now so the workspace layout is final.
"""
