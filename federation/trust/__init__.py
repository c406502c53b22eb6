"""The trust service: the ``trust`` library's CAs, bundles and rotation kept in the store,
SVID issuance, the bundle endpoint and foreign bundle fetching."""
