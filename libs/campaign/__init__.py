"""Campaigns: audiences, next best offer under a budget, triggers, message copy and evaluation."""
