"""Synthetic marketing data with planted truth, generated with Spark so it scales."""
