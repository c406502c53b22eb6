"""SPIFFE trust for meshfed: IDs, the KEK, CA hierarchies, X509-SVIDs, bundles, verification,
mTLS contexts, authorization policies and the audit chain.

Pure functions take the clock as an argument; nothing here does storage or network I/O, and
nothing imports ``federation``, ``providers`` or ``geo``. Secrets leave this package only
sealed under the KEK (``CertificateAuthority.to_sealed``) for the caller to store.
"""
