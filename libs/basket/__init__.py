"""Market-basket analysis with MLlib FPGrowth: baskets, a bounded miner, rules and cross-sell."""
