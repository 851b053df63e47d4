"""Library code for the precision-marketing platform: pure transforms plus the I/O, session and config modules."""
