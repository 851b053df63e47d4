"""The binary-classifier toolkit that churn, propensity and response share: build, fit, evaluate, explain."""
