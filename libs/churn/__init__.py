"""Churn and propensity labels, point in time: rolling cutoffs and who churned or bought after each."""
