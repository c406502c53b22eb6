locals {
  ingress = merge(
    {
      api    = { port = var.api_port, ranges = var.api_allowed_ranges }
      bundle = { port = var.bundle_port, ranges = var.bundle_allowed_ranges }
    },
    var.gateway_cluster == "" ? {} : { gateway = { port = var.gateway_port, ranges = var.gateway_allowed_ranges } },
  )
}

resource "google_compute_firewall" "meshfed" {
  for_each = local.ingress

  name          = "${var.name}-allow-${each.key}"
  project       = var.project_id
  network       = var.network
  direction     = "INGRESS"
  source_ranges = each.value.ranges
  target_tags   = [local.network_tag]

  allow {
    protocol = "tcp"
    ports    = [tostring(each.value.port)]
  }

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}

# Google's health checkers probe /readyz from these published ranges.
resource "google_compute_firewall" "health_checks" {
  name          = "${var.name}-allow-health-checks"
  project       = var.project_id
  network       = var.network
  direction     = "INGRESS"
  source_ranges = ["35.191.0.0/16", "130.211.0.0/22"]
  target_tags   = [local.network_tag]

  allow {
    protocol = "tcp"
    ports    = [tostring(var.api_port)]
  }

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}
