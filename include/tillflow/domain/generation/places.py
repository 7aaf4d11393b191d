"""Real US cities by IANA time zone: where the chain's stores are.

Each city is listed under the zone it really observes, so a store's city, state, coordinates and
time zone agree. Cities in the split or special zones (Detroit, Indianapolis, Louisville, Boise,
Juneau, the Navajo Nation) are left out on purpose: their canonical zone is not one of these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class City:
    name: str
    state: str
    latitude: float
    longitude: float


#: How a US chain of 1000 stores spreads over the zones (counts add up to 1000).
ZONE_STORE_COUNTS: Final[dict[str, int]] = {
    "America/New_York": 430,
    "America/Chicago": 300,
    "America/Los_Angeles": 180,
    "America/Denver": 40,
    "America/Phoenix": 25,
    "Pacific/Honolulu": 15,
    "America/Anchorage": 10,
}

CITIES: Final[dict[str, tuple[City, ...]]] = {
    "America/New_York": (
        City("New York", "NY", 40.7128, -74.0060),
        City("Buffalo", "NY", 42.8864, -78.8784),
        City("Rochester", "NY", 43.1566, -77.6088),
        City("Philadelphia", "PA", 39.9526, -75.1652),
        City("Pittsburgh", "PA", 40.4406, -79.9959),
        City("Boston", "MA", 42.3601, -71.0589),
        City("Hartford", "CT", 41.7658, -72.6734),
        City("Newark", "NJ", 40.7357, -74.1724),
        City("Baltimore", "MD", 39.2904, -76.6122),
        City("Washington", "DC", 38.9072, -77.0369),
        City("Richmond", "VA", 37.5407, -77.4360),
        City("Raleigh", "NC", 35.7796, -78.6382),
        City("Charlotte", "NC", 35.2271, -80.8431),
        City("Charleston", "SC", 32.7765, -79.9311),
        City("Atlanta", "GA", 33.7490, -84.3880),
        City("Jacksonville", "FL", 30.3322, -81.6557),
        City("Orlando", "FL", 28.5383, -81.3792),
        City("Tampa", "FL", 27.9506, -82.4572),
        City("Miami", "FL", 25.7617, -80.1918),
        City("Columbus", "OH", 39.9612, -82.9988),
        City("Cleveland", "OH", 41.4993, -81.6944),
        City("Cincinnati", "OH", 39.1031, -84.5120),
        City("Providence", "RI", 41.8240, -71.4128),
    ),
    "America/Chicago": (
        City("Chicago", "IL", 41.8781, -87.6298),
        City("Houston", "TX", 29.7604, -95.3698),
        City("Dallas", "TX", 32.7767, -96.7970),
        City("Fort Worth", "TX", 32.7555, -97.3308),
        City("San Antonio", "TX", 29.4241, -98.4936),
        City("Austin", "TX", 30.2672, -97.7431),
        City("Minneapolis", "MN", 44.9778, -93.2650),
        City("St. Louis", "MO", 38.6270, -90.1994),
        City("Kansas City", "MO", 39.0997, -94.5786),
        City("Milwaukee", "WI", 43.0389, -87.9065),
        City("Madison", "WI", 43.0731, -89.4012),
        City("Nashville", "TN", 36.1627, -86.7816),
        City("Memphis", "TN", 35.1495, -90.0490),
        City("New Orleans", "LA", 29.9511, -90.0715),
        City("Oklahoma City", "OK", 35.4676, -97.5164),
        City("Omaha", "NE", 41.2565, -95.9345),
        City("Des Moines", "IA", 41.5868, -93.6250),
        City("Little Rock", "AR", 34.7465, -92.2896),
        City("Birmingham", "AL", 33.5186, -86.8104),
        City("Wichita", "KS", 37.6872, -97.3301),
    ),
    "America/Los_Angeles": (
        City("Los Angeles", "CA", 34.0522, -118.2437),
        City("Long Beach", "CA", 33.7701, -118.1937),
        City("San Diego", "CA", 32.7157, -117.1611),
        City("San Jose", "CA", 37.3382, -121.8863),
        City("San Francisco", "CA", 37.7749, -122.4194),
        City("Oakland", "CA", 37.8044, -122.2712),
        City("Sacramento", "CA", 38.5816, -121.4944),
        City("Fresno", "CA", 36.7378, -119.7871),
        City("Bakersfield", "CA", 35.3733, -119.0187),
        City("Seattle", "WA", 47.6062, -122.3321),
        City("Tacoma", "WA", 47.2529, -122.4443),
        City("Spokane", "WA", 47.6588, -117.4260),
        City("Portland", "OR", 45.5152, -122.6784),
        City("Las Vegas", "NV", 36.1699, -115.1398),
        City("Reno", "NV", 39.5296, -119.8138),
    ),
    "America/Denver": (
        City("Denver", "CO", 39.7392, -104.9903),
        City("Aurora", "CO", 39.7294, -104.8319),
        City("Colorado Springs", "CO", 38.8339, -104.8214),
        City("Albuquerque", "NM", 35.0844, -106.6504),
        City("Salt Lake City", "UT", 40.7608, -111.8910),
        City("El Paso", "TX", 31.7619, -106.4850),
        City("Billings", "MT", 45.7833, -108.5007),
        City("Cheyenne", "WY", 41.1400, -104.8202),
    ),
    "America/Phoenix": (
        City("Phoenix", "AZ", 33.4484, -112.0740),
        City("Tucson", "AZ", 32.2226, -110.9747),
        City("Mesa", "AZ", 33.4152, -111.8315),
        City("Chandler", "AZ", 33.3062, -111.8413),
        City("Scottsdale", "AZ", 33.4942, -111.9261),
        City("Flagstaff", "AZ", 35.1983, -111.6513),
    ),
    "Pacific/Honolulu": (
        City("Honolulu", "HI", 21.3069, -157.8583),
        City("Pearl City", "HI", 21.3972, -157.9752),
        City("Hilo", "HI", 19.7241, -155.0868),
        City("Kahului", "HI", 20.8893, -156.4729),
    ),
    "America/Anchorage": (
        City("Anchorage", "AK", 61.2181, -149.9003),
        City("Fairbanks", "AK", 64.8378, -147.7164),
        City("Wasilla", "AK", 61.5814, -149.4394),
    ),
}

#: Index of each zone in the generators' numeric arrays (a store's zone is stored as this code).
ZONES: Final[tuple[str, ...]] = tuple(ZONE_STORE_COUNTS)
