"""Uplift modelling: who a campaign changes, from treatment and control contacts."""
