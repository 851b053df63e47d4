"""The HTML report: bounded aggregates, plots and the page."""
