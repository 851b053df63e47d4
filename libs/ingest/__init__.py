"""Raw files to bronze to silver: readers, validation and reconciliation."""
