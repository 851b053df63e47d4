"""Multi-touch attribution: contact paths, rule-based credit and Markov-chain removal effects."""
