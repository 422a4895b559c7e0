"""newsrec: the core of the news-recommendation stack, free of MLOps tools (their adapters
live in newsrec.adapters). A docstring rather than an empty file: DVC warns about every
empty dependency of a stage, and this one is a dependency of all of them."""
