"""Great-circle distance between two points on the Earth."""

import math

# IUGG mean radius R1 = (2a + b) / 3 of the WGS 84 ellipsoid; the sphere that minimises the
# haversine error on average, which is all the scheduler needs to order clusters.
EARTH_MEAN_RADIUS_KM = 6371.0088


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance in kilometres between two (latitude, longitude) points in degrees."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi = phi2 - phi1
    d_lambda = math.radians(lon2 - lon1)
    h = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    # Rounding can push h a hair outside [0, 1] for antipodal points; asin would then fail.
    h = min(1.0, max(0.0, h))
    return 2 * EARTH_MEAN_RADIUS_KM * math.asin(math.sqrt(h))
