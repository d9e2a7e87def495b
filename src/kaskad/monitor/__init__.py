"""Monitoring: drift, missing and unknown rates, champion versus shadow."""
