"""farmwatch analytics: streaming anomaly detection, agronomic indicators, model-farm profiles.

Built in the analytics issue; the package exists now so the workspace layout is final.
"""
