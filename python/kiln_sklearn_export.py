"""Placeholder; replaced by the scikit-learn exporter."""
