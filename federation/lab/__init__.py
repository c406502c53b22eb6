"""A whole federation on loopback: a control plane, three clusters' gateways and echo services,
and a traffic client. ``meshfed demo`` and the end-to-end failover test both run it."""
