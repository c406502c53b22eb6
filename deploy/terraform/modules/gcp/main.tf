locals {
  redis_ca    = "/etc/meshfed/redis-ca.pem"
  network_tag = "${var.name}-meshfed"

  labels = merge(var.labels, { "meshfed-deployment" = var.name })
}

resource "google_compute_instance_template" "meshfed" {
  name_prefix    = "${var.name}-"
  project        = var.project_id
  region         = var.region
  machine_type   = var.machine_type
  can_ip_forward = false
  tags           = [local.network_tag]
  labels         = local.labels

  disk {
    source_image = var.source_image
    boot         = true
    auto_delete  = true
    disk_size_gb = 20
    disk_type    = "pd-balanced"
  }

  # No access_config: the replicas get no public address.
  network_interface {
    subnetwork = var.subnetwork
  }

  service_account {
    email  = google_service_account.meshfed.email
    scopes = ["cloud-platform"]
  }

  shielded_instance_config {
    enable_secure_boot          = true
    enable_vtpm                 = true
    enable_integrity_monitoring = true
  }

  metadata = {
    enable-oslogin         = "TRUE"
    block-project-ssh-keys = "true"
    serial-port-enable     = "false"
    startup-script = templatefile("${path.module}/templates/startup.sh.tftpl", {
      meshfed_version   = module.config.meshfed_version
      meshfed_config    = module.config.meshfed_config
      bundle_dir        = module.config.bundle_dir
      bootstrap_bundles = module.config.bootstrap_bundles
      redis_ca_file     = local.redis_ca
      redis_ca          = google_redis_instance.store.server_ca_certs[0].cert
      kek_secret        = google_secret_manager_secret_version.kek.name
      redis_secret      = google_secret_manager_secret_version.redis_auth.name
      tokens_secret     = google_secret_manager_secret_version.api_tokens.name
      gateway_cluster   = var.gateway_cluster
      gateway_port      = var.gateway_port
    })
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "google_compute_region_health_check" "readyz" {
  name    = "${var.name}-readyz"
  project = var.project_id
  region  = var.region

  http_health_check {
    port         = var.api_port
    request_path = "/readyz"
  }

  log_config {
    enable = true
  }
}

resource "google_compute_region_instance_group_manager" "meshfed" {
  name               = var.name
  project            = var.project_id
  region             = var.region
  base_instance_name = var.name
  target_size        = var.target_size

  version {
    instance_template = google_compute_instance_template.meshfed.self_link
  }

  auto_healing_policies {
    health_check      = google_compute_region_health_check.readyz.id
    initial_delay_sec = 300
  }

  update_policy {
    type                  = "PROACTIVE"
    minimal_action        = "REPLACE"
    max_surge_fixed       = 3
    max_unavailable_fixed = 0
  }
}

resource "google_compute_region_backend_service" "meshfed" {
  name                  = var.name
  project               = var.project_id
  region                = var.region
  protocol              = "TCP"
  load_balancing_scheme = "INTERNAL"
  health_checks         = [google_compute_region_health_check.readyz.id]

  backend {
    group          = google_compute_region_instance_group_manager.meshfed.instance_group
    balancing_mode = "CONNECTION"
  }

  log_config {
    enable = true
  }
}

resource "google_compute_forwarding_rule" "meshfed" {
  name                  = var.name
  project               = var.project_id
  region                = var.region
  load_balancing_scheme = "INTERNAL"
  ip_protocol           = "TCP"
  ports                 = [for p in values(module.config.listeners) : tostring(p)]
  network               = var.network
  subnetwork            = var.subnetwork
  backend_service       = google_compute_region_backend_service.meshfed.id
  labels                = local.labels
}
