"""Open311 GeoReport v2 at /open311/v2: village apps and hotlines file and follow cases with an API key."""
