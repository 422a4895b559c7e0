"""One thin module per MLOps tool; the only places in src/newsrec that import them."""
