"""Exceptions raised by the geo package; each message names the thing, the value and the fix."""


class GeoError(Exception):
    """Base class for every error the geo package raises on purpose."""


class UnknownRegionError(GeoError, LookupError):
    """A region key or cloud/code pair is not in the region catalog."""


class RegionCatalogError(GeoError):
    """The region catalog data file is malformed."""


class InvalidAddressError(GeoError, ValueError):
    """A string given as a client IP address is not an IPv4 or IPv6 address."""


class GeoDatabaseError(GeoError):
    """A GeoIP2 database is missing, unreadable, corrupt or of an unsupported type."""
