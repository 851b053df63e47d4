"""Click-through prediction: factorization machines against logistic regression on hashed sparse features."""
