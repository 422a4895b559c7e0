"""Words of the simulated world: each category and subcategory has its own vocabulary,
so that titles carry a real content signal (a TF-IDF model can find the topic)."""

from __future__ import annotations

CATEGORIES: dict[str, dict[str, list[str]]] = {
    "news": {
        "newspolitics": "senate vote bill governor congress policy mayor council law reform".split(),
        "newsworld": "summit embassy border treaty minister refugees ceasefire diplomat sanctions".split(),
        "newscrime": "police arrest court trial suspect robbery verdict jury investigation".split(),
    },
    "sports": {
        "football_nfl": "quarterback touchdown playoff coach season rookie draft kickoff".split(),
        "basketball_nba": "dunk rebound guard finals roster lakers point forward".split(),
        "soccer": "goal striker league penalty keeper transfer derby midfielder".split(),
    },
    "finance": {
        "markets": "stocks index rally bonds yields investors earnings shares".split(),
        "personalfinance": "savings retirement mortgage budget taxes credit loan pension".split(),
    },
    "lifestyle": {
        "lifestyleroyals": "prince duchess palace royal wedding queen crown".split(),
        "shop-holidays": "gift deals sale holiday decor shopping bargains".split(),
    },
    "health": {
        "wellness": "sleep stress yoga habits mindfulness routine energy".split(),
        "medical": "vaccine study doctors hospital cancer trial treatment patients".split(),
    },
    "entertainment": {
        "movies": "film director premiere oscar sequel trailer actress boxoffice".split(),
        "music": "album tour singer concert grammy band single chart".split(),
        "tv": "series episode finale streaming showrunner season cast".split(),
    },
    "travel": {
        "traveltrip": "beach island resort flights passport itinerary cruise".split(),
    },
    "foodanddrink": {
        "recipes": "recipe dinner baking pasta chicken salad dessert oven".split(),
        "restaurants": "chef menu restaurant bistro tasting brunch diner".split(),
    },
    "autos": {
        "autosnews": "sedan electric truck recall engine mileage dealership pickup".split(),
    },
    "weather": {
        "weathertopstories": "storm snow forecast hurricane heatwave rain flood tornado".split(),
    },
}

NEW_CATEGORY_WORDS: dict[str, list[str]] = {
    "main": "election ballot candidate polls campaign turnout debate precinct recount".split(),
}

GENERIC = (
    "new report says why how after amid could first big week year day people city state plan look inside top more"
).split()

CLICKBAIT = (
    "shocking",
    "you won't believe",
    "this one trick",
    "what happened next",
    "jaw-dropping",
    "secret",
    "everyone is talking about",
    "insane",
)

# Relative frequency of each category among published articles (MIND-like skew).
CATEGORY_WEIGHTS: dict[str, float] = {
    "news": 0.30,
    "sports": 0.18,
    "finance": 0.07,
    "lifestyle": 0.08,
    "health": 0.06,
    "entertainment": 0.12,
    "travel": 0.05,
    "foodanddrink": 0.06,
    "autos": 0.04,
    "weather": 0.04,
}

# The 18 top-level categories of the real MIND data set, so real files pass the contract.
MIND_CATEGORIES = (
    "autos entertainment finance foodanddrink games health kids lifestyle "
    "middleeast movies music news northamerica sports travel tv video weather"
).split()
