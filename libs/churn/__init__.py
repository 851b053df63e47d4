"""Behaviour prediction: churn, purchase propensity and campaign response, all point in time."""
