"""Customer lifetime value: BG/NBD purchases, Gamma-Gamma order values, discounted CLV."""
