"""Recommendations: implicit feedback, ALS, item-CF, content, the hybrid blend and its evaluation."""
