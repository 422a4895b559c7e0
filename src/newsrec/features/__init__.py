"""Point-in-time feature tables (pandas, no Feast) and the on-demand request features.

Every row carries an `event_timestamp`; its values use only events strictly before it.
"""
from newsrec.features.build import FeatureTables, build_features
from newsrec.features.request import DEFAULTS, MODEL_FEATURES, fill_defaults, fit_defaults, request_features

__all__ = ["DEFAULTS", "MODEL_FEATURES", "FeatureTables", "build_features", "fill_defaults", "fit_defaults",
           "request_features"]
