"""Small factories for scheduler tests."""

from federation.scheduler.model import ClientPoint, ClusterPlacement, EndpointState

PLACEMENTS = {
    "aws-use1": ClusterPlacement("aws-use1", "aws:us-east-1", "NA", 38.9, -77.4),
    "aws-usw2": ClusterPlacement("aws-usw2", "aws:us-west-2", "NA", 45.8, -119.7),
    "aws-euw2": ClusterPlacement("aws-euw2", "aws:eu-west-2", "EU", 51.5, -0.1),
    "gcp-euw1": ClusterPlacement("gcp-euw1", "gcp:europe-west1", "EU", 50.4, 3.8),
    "azure-weu": ClusterPlacement("azure-weu", "azure:westeurope", "EU", 52.4, 4.9),
    "gcp-ase1": ClusterPlacement("gcp-ase1", "gcp:asia-east1", "AS", 24.1, 120.5),
}

LONDON = ClientPoint("aws:eu-west-2", "EU", 51.51, -0.09)
VIRGINIA = ClientPoint("aws:us-east-1", "NA", 38.9, -77.4)


def endpoints(
    service: str | None, cluster: str, total: int, healthy: int, *, weight: int = 1
) -> list[EndpointState]:
    """`total` endpoints of which the first `healthy` are healthy; keys are cluster/service/i."""
    return [
        EndpointState(
            key=f"{cluster}/{service or 'gateway'}/{index}",
            cluster=cluster,
            address="127.0.0.1",
            port=9000 + index,
            weight=weight,
            healthy=index < healthy,
            service=service,
        )
        for index in range(total)
    ]
