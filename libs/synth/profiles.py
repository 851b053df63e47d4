"""The planted world: segment archetypes, catalogue shape, campaigns and co-purchase rules."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Archetype:
    """Behaviour of one planted customer segment; rates are per month, probabilities per session."""

    name: str
    weight: float
    sessions: float
    views: float
    click: float
    cart: float
    buy: float
    price_tier: tuple[float, float, float]  # chance of budget, mid, premium products
    mobile: float
    churn: float  # share of the segment that churns inside the span
    base_conversion: float  # campaign conversion without contact


ARCHETYPES: tuple[Archetype, ...] = (
    Archetype("High-value loyalists", 0.20, 3.0, 4.0, 0.70, 0.70, 0.75, (0.02, 0.13, 0.85), 0.30, 0.12, 0.22),
    Archetype("Bargain hunters", 0.30, 2.2, 3.0, 0.60, 0.60, 0.60, (0.90, 0.10, 0.00), 0.50, 0.20, 0.06),
    Archetype("Window shoppers", 0.30, 2.5, 9.0, 0.55, 0.35, 0.04, (0.15, 0.70, 0.15), 0.85, 0.20, 0.02),
    Archetype("Occasional buyers", 0.20, 1.1, 2.0, 0.75, 0.85, 0.80, (0.15, 0.70, 0.15), 0.30, 0.20, 0.03),
    Archetype("Mobile impulse buyers", 0.15, 4.0, 1.5, 0.90, 0.80, 0.35, (0.40, 0.50, 0.10), 0.97, 0.10, 0.05),
    Archetype("Premium researchers", 0.10, 1.5, 12.0, 0.80, 0.50, 0.40, (0.00, 0.10, 0.90), 0.10, 0.10, 0.08),
)

CATEGORIES = ("electronics", "fashion", "home", "beauty", "sports", "books", "grocery", "toys")
CATEGORY_PRICE = {
    "electronics": 180.0,
    "fashion": 45.0,
    "home": 60.0,
    "beauty": 22.0,
    "sports": 55.0,
    "books": 15.0,
    "grocery": 8.0,
    "toys": 30.0,
}
TIER_NAMES = ("budget", "mid", "premium")
TIER_PRICE = (0.5, 1.0, 2.4)
TIER_MARGIN = (0.12, 0.25, 0.40)
BRANDS_PER_CATEGORY = 5
TASTE_CLUSTERS_PER_CATEGORY = 2
# One style word per taste cluster of a category: product text says which line a product belongs to,
# as real catalogues do, so content similarity has something true to find.
STYLES = ("urban", "heritage")
CATEGORY_WORDS = {
    "electronics": "wireless bluetooth battery screen charger smart digital audio",
    "fashion": "cotton slim fit jacket denim leather summer casual",
    "home": "kitchen ceramic wooden storage lamp cosy living decor",
    "beauty": "skin serum natural fragrance vegan hydrating cream glow",
    "sports": "running training outdoor breathable yoga trail fitness gear",
    "books": "novel paperback bestseller history mystery illustrated edition author",
    "grocery": "organic snack coffee tea fresh pantry roasted blend",
    "toys": "kids puzzle building colourful educational plush game creative",
}
ADJECTIVES = ("classic", "essential", "deluxe", "everyday", "compact", "signature", "ultra", "eco")

FIRST_NAMES = (
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Ava",
    "Elijah",
    "Sophia",
    "James",
    "Mia",
    "Lucas",
    "Amelia",
    "Mateo",
    "Harper",
    "Levi",
    "Chloe",
    "Wei",
    "Priya",
    "Yuki",
    "Omar",
    "Fatima",
    "Sven",
    "Ingrid",
    "Diego",
    "Lucia",
    "Kofi",
    "Amara",
    "Ivan",
    "Anya",
    "Raj",
    "Mei",
)
LAST_NAMES = (
    "Smith",
    "Johnson",
    "Garcia",
    "Brown",
    "Miller",
    "Davis",
    "Martinez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Thompson",
    "White",
    "Harris",
    "Clark",
    "Lewis",
    "Young",
    "Walker",
    "Hall",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Chen",
    "Patel",
    "Kim",
    "Novak",
)
EMAIL_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "proton.me", "example.org")
CITIES = ("London", "Manchester", "Berlin", "Paris", "Madrid", "Milan", "Amsterdam", "Warsaw", "Dublin", "Lisbon")
CHANNELS = ("web", "app", "store", "referral")
DEVICES = ("desktop", "tablet")  # plus "mobile", chosen by the archetype's mobile share


@dataclass(frozen=True)
class CampaignSpec:
    name: str
    channel: str
    start_month: int  # months after the start date
    days: int
    offer_category: str
    cost: float
    uplift: tuple[float, ...]  # planted uplift in conversion, by segment


# Who a campaign changes is a trait of the segment, as uplift modelling assumes: bargain hunters, occasional
# buyers and premium researchers are persuadable; loyalists are sure things (they convert most, contacted or
# not, so response targeting picks them first and gains nothing); window shoppers and mobile impulse buyers
# don't respond. The push campaign changes nobody.
CAMPAIGNS: tuple[CampaignSpec, ...] = (
    CampaignSpec("Spring electronics email", "email", 2, 14, "electronics", 0.05, (0.0, 0.08, 0.0, 0.10, 0.0, 0.10)),
    CampaignSpec("Summer fashion SMS", "sms", 5, 10, "fashion", 0.08, (0.0, 0.10, 0.0, 0.08, 0.0, 0.10)),
    CampaignSpec("Back-to-school push", "push", 7, 10, "books", 0.01, (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)),
    CampaignSpec("Black Friday email", "email", 10, 7, "electronics", 0.05, (0.0, 0.08, 0.0, 0.12, 0.0, 0.10)),
)
CAMPAIGN_REACH = 0.35  # share of consenting customers contacted per campaign


@dataclass(frozen=True)
class BiasSpec:
    """A planted biased selection: one campaign reaches one group at a fraction of everyone else's rate."""

    campaign: int  # index into CAMPAIGNS
    attribute: str  # a customer column
    group: str
    reach_factor: float


# The back-to-school push (no planted uplift, so no uplift test depends on its size) reached women at a
# quarter of the rate of everyone else: a disparate impact of 0.25 the fairness audit must catch.
BIAS = BiasSpec(campaign=2, attribute="gender", group="F", reach_factor=0.25)
CONTROL_SHARE = 0.2
OPEN_RATE = {"email": 0.35, "sms": 0.6, "push": 0.25}


@dataclass(frozen=True)
class ClickSpec:
    """The planted click signal: log-odds of a click, given an open, add up from these terms."""

    base: float  # log-odds of a click on an open with none of the terms below
    affinity: float  # the offer's category is one of the customer's two taste categories
    channel: tuple[tuple[str, float], ...]  # per channel
    evening: float  # sent between evening_hours (inclusive)
    evening_hours: tuple[int, int]
    phone: float  # a mostly-mobile customer (archetype mobile share above phone_share) reached by SMS or push
    phone_share: float


# Clicks that a factorization machine can learn and a linear model on the same one-hot features cannot: the
# strongest terms are crossings (customer taste x offer category, device x channel).
CLICK = ClickSpec(
    base=-1.8,
    affinity=2.2,
    channel=(("email", 0.0), ("sms", 0.3), ("push", -0.3)),
    evening=0.6,
    evening_hours=(18, 21),
    phone=1.2,
    phone_share=0.6,
)

# Planted co-purchase rules (antecedent -> consequent, confidence), items given by popularity rank in
# their category. Antecedents are popular; consequents are among the least popular items (negative
# ranks count from the end), so the rule, not popularity, explains most of their sales.
RULES: tuple[tuple[str, int, str, int, float], ...] = (
    ("electronics", 0, "electronics", -1, 0.60),
    ("fashion", 1, "beauty", -2, 0.50),
    ("home", 2, "grocery", -1, 0.45),
    ("sports", 0, "books", -3, 0.55),
)
