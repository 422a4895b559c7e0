"""Features: the declaration of the model's features (spec), the point-in-time feature
tables (build, windows, content), the on-demand request features and fill values
(request), and the pandas as-of join (join). Pandas and scipy only, no Feast.

Every row carries an `event_timestamp`; its values use only events strictly before it.
Import from the submodules: this package imports nothing, so a stage that needs only the
declaration does not load (or depend on) the feature builders.
"""
